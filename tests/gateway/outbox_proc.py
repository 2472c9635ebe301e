"""Camera workers putting single events into one outbox, as their own process, so a test can SIGKILL it.

Usage: outbox_proc.py OUTBOX THREADS
Each of THREADS threads puts pass events one at a time, forever, and prints
"put EVENT_ID" only after put() has returned (the event is durable by then).
"""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path

from anju.clock import SystemClock
from contracts.messages import PassEvent, PersonKind
from gateway.outbox import Outbox


def main() -> int:
    path, threads = Path(sys.argv[1]), int(sys.argv[2])
    clock = SystemClock()
    box = Outbox(path, 1 << 28, clock, synchronous="FULL")
    out = threading.Lock()

    def worker(camera: int) -> None:
        while True:
            ev = PassEvent(
                event_id=uuid.uuid4(),
                site_id="site-1",
                node_id="gate-a",
                seq=box.next_seq(),
                captured_at=clock.now(),
                camera_id=f"cam-{camera}",
                person_id="p-1",
                person_kind=PersonKind.owner,
            )
            box.put(ev)
            with out:
                sys.stdout.write(f"put {ev.event_id}\n")
                sys.stdout.flush()

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
