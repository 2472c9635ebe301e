"""An edge publisher as its own process, so a test can SIGKILL it mid-stream and start it again.

Usage: edge_proc.py PORT OUTBOX KEY CENTRAL_PUB COUNT
Puts COUNT pass events (each durable before "put SEQ ID" is printed), then keeps
draining until its outbox is empty and prints "drained".
"""

from __future__ import annotations

import sys
from pathlib import Path

from anju.clock import SystemClock
from contracts.messages import PassEvent, PersonKind
from gateway.config import BrokerConfig, EdgeLinkConfig
from gateway.edge_link import EdgeLink
from gateway.outbox import Outbox


def main() -> int:
    port, outbox_path, key, central_pub, count = sys.argv[1:6]
    clock = SystemClock()
    cfg = EdgeLinkConfig(
        site_id="site-1",
        node_id="gate-a",
        broker=BrokerConfig(port=int(port), reconnect_max_s=1),
        signing_key=Path(key),
        central_public_keys=[Path(central_pub)],
        ack_timeout_s=2,
    )
    link = EdgeLink(cfg, Outbox(Path(outbox_path), 1 << 28, clock, synchronous="FULL"), None, clock)
    link.start()
    for i in range(int(count)):
        ev = link.events.make(PassEvent, camera_id="cam-1", person_id=f"p-{i}", person_kind=PersonKind.owner)
        link.publish(ev)
        print(f"put {ev.seq} {ev.event_id}", flush=True)
    while not link.wait_drained(1.0):
        pass
    print("drained", flush=True)
    link.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
