"""An embedded MQTT broker for ``anju demo`` on machines without Mosquitto.

``python -m anju.embedded_broker --port P`` runs amqtt (pure Python) on ``127.0.0.1:P`` until
SIGINT/SIGTERM. Its limits, which the demo accounts for:

- MQTT 3.1.1 only: clients connect with ``gateway.broker.protocol = "3.1.1"`` (no MQTT 5
  properties; the gateway uses none).
- No shared subscriptions (``$share/…``): central subscribes with ``share_group = None``, so
  exactly ONE central instance may run against it.
- No persistence: retained whitelists and queued messages are lost when it stops; the edge's
  outbox still re-sends every unacknowledged event and central re-publishes the whitelist
  snapshot on request, so nothing is lost end to end, only delayed.

Production and the scale-out setup use Mosquitto (or EMQX); this is a demo convenience.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

log = logging.getLogger(__name__)


def broker_config(host: str, port: int) -> dict[str, Any]:
    """amqtt configuration: one plain TCP listener on a loopback address, anonymous clients."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        # No packet/event logger plugins: they log every packet; no $SYS publisher either.
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


async def serve(host: str, port: int, stop: asyncio.Event) -> None:
    from amqtt.broker import Broker  # type: ignore[import-untyped,unused-ignore]

    broker = Broker(broker_config(host, port))
    await broker.start()
    log.info("embedded MQTT 3.1.1 broker (amqtt) listening on %s:%d", host, port)
    try:
        await stop.wait()
    finally:
        await broker.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anju.embedded_broker", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (demo only)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # amqtt logs every connection at INFO; the demo's log needs only warnings from it.
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the embedded broker has no TLS or ACL: bind it to a loopback address only")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(args.host, args.port, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
