"""An edge publisher as its own process, for the scale-out test and ``anju bench soak``.

``python -m bench.soak_edge --port P --outbox F --key K --central-pub C --site S --node N
--ledger L [--count N] [--duration S] [--rate R] [--protocol 5|3.1.1]``

It publishes through the real :class:`gateway.edge_link.EdgeLink` and its durable outbox a
realistic mix of events: residents passing in and out (each person alternates), a stranger
now and then, the door opening for each pass, and a rare 重点人员 (watchlist) hit that
central's watchlist rule turns into an alert. Each event is appended to the ledger
(``event_id kind direction captured_at``) *after* the outbox holds it, so every ledger line
is an event the edge promised to deliver. A restarted process (same outbox, same ledger)
carries on where the killed one stopped; it prints ``drained`` once central acknowledged all.

The community simulation (``central.simulation``) is not used here: it needs the face bank
and replays whole simulated days at once, not a real-time stream.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

from anju.clock import SystemClock
from contracts import Event
from contracts.messages import (
    Direction,
    DoorState,
    DoorStateEvent,
    PassEvent,
    PersonKind,
    StrangerEvent,
    WatchlistHitEvent,
)
from gateway.config import BrokerConfig, EdgeLinkConfig
from gateway.edge_link import EdgeLink
from gateway.outbox import Outbox

RESIDENTS = 300
# A compound gate at a busy hour: ~0.5 passes/s real time; ×10 in the soak.
REAL_RATE = 0.5


class Generator:
    """The event mix; deterministic for a seed, resumable (person directions restart as "in")."""

    def __init__(self, link: EdgeLink, seed: int, passes_only: bool) -> None:
        self.link = link
        self.rng = random.Random(seed)
        self.passes_only = passes_only
        self.inside: dict[str, bool] = {}
        self.track = 0

    def next(self) -> list[Event]:
        f = self.link.events
        self.track += 1
        roll = self.rng.random()
        if self.passes_only or roll < 0.80:
            person = f"p-{self.rng.randrange(RESIDENTS)}"
            inside = self.inside.get(person, False)
            self.inside[person] = not inside
            direction = Direction.outbound if inside else Direction.inbound
            ev: list[Event] = [
                f.make(
                    PassEvent,
                    camera_id="cam-gate-in" if direction is Direction.inbound else "cam-gate-out",
                    zone_id="gate-main",
                    ring=1,
                    direction=direction,
                    person_id=person,
                    person_kind=PersonKind.owner,
                    door_id="door-main",
                    score=0.62,
                    track_id=self.track,
                )
            ]
            if not self.passes_only:
                ev.append(f.make(DoorStateEvent, door_id="door-main", state=DoorState.opened, reason="face"))
            return ev
        if roll < 0.97:
            return [
                f.make(
                    StrangerEvent,
                    camera_id="cam-gate-in",
                    zone_id="gate-main",
                    ring=1,
                    direction=Direction.inbound,
                    track_id=self.track,
                    best_score=0.21,
                    quality=0.8,
                )
            ]
        return [
            f.make(
                WatchlistHitEvent,
                camera_id="cam-gate-in",
                zone_id="gate-main",
                ring=1,
                direction=Direction.inbound,
                person_id=f"w-{self.track}-{os.getpid()}",
                category="重点人员",
                score=0.7,
                track_id=self.track,
            )
        ]


def _say(line: str) -> None:
    """Progress lines on stdout are this process's protocol with its parent (not logging)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="soak_edge")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--protocol", choices=["5", "3.1.1"], default="5")
    p.add_argument("--outbox", type=Path, required=True)
    p.add_argument("--key", type=Path, required=True)
    p.add_argument("--central-pub", type=Path, required=True)
    p.add_argument("--site", required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--ledger", type=Path, required=True)
    p.add_argument("--count", type=int, default=0, help="stop after this many generator steps (0 = no limit)")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = no limit)")
    p.add_argument(
        "--rate", type=float, default=0.0, help="generator steps per second (0 = as fast as possible)"
    )
    p.add_argument("--passes-only", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)

    clock = SystemClock()
    cfg = EdgeLinkConfig(
        site_id=args.site,
        node_id=args.node,
        broker=BrokerConfig(host=args.host, port=args.port, reconnect_max_s=1, protocol=args.protocol),
        signing_key=args.key,
        central_public_keys=[args.central_pub],
        ack_timeout_s=3,
        heartbeat_interval_s=5,
    )
    link = EdgeLink(cfg, Outbox(args.outbox, 1 << 29, clock, synchronous="FULL"), None, clock)
    link.start()
    gen = Generator(link, args.seed + os.getpid(), args.passes_only)
    start = time.monotonic()
    steps = 0
    if args.ledger.exists() and args.ledger.stat().st_size > 0:
        with args.ledger.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            cut_short = f.read(1) != b"\n"
        if cut_short:  # the killed predecessor died mid-line: keep our lines whole
            with args.ledger.open("a", encoding="utf-8") as f:
                f.write("\n")
    with args.ledger.open("a", encoding="utf-8") as ledger:
        while True:
            if args.count and steps >= args.count:
                break
            if args.duration and time.monotonic() - start >= args.duration:
                break
            for ev in gen.next():
                link.publish(ev)
                direction = getattr(ev, "direction", None)
                ledger.write(
                    f"{ev.event_id} {ev.kind} {direction.value if direction else '-'} "
                    f"{ev.captured_at.isoformat()}\n"
                )
            ledger.flush()
            steps += 1
            if steps % 200 == 0:
                _say(f"sent {steps}")
            if args.rate > 0:
                delay = start + steps / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    _say("generated")
    while not link.wait_drained(1.0):
        pass
    _say("drained")
    link.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
