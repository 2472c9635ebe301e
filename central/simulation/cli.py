"""``anju simulate community``: run a simulated compound through central and report the figures."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_LFW = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "lfw"


def add_community_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--days", type=int, default=14, help="simulated days (default 14)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW folder (<Name>/<Name>_NNNN.jpg)")
    p.add_argument("--data-dir", type=Path, default=Path("./data"), help="where face embeddings are cached")
    p.add_argument(
        "--database-url",
        default=None,
        help="central database to write into (default: fresh SQLite, temporary)",
    )
    p.add_argument(
        "--transport",
        choices=["gateway", "direct"],
        default="gateway",
        help="gateway: real MQTT broker, edge outbox, central consumer (default); direct: unit-test path",
    )
    p.add_argument("--no-review", action="store_true", help="do not work the review queue")
    p.add_argument("--json", action="store_true", help="print the figures as JSON only")


def register(sub: Any) -> None:
    parser = sub.add_parser("simulate", help="simulations (community for 一标三实 reconciliation)")
    ssub = parser.add_subparsers(dest="simulation", metavar="SIMULATION")
    p = ssub.add_parser("community", help="a compound over weeks of simulated time, events through central")
    add_community_arguments(p)
    p.set_defaults(func=_cmd_community)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _cmd_community(args: argparse.Namespace) -> int:
    from central.simulation.session import run_community

    figures = run_community(
        days=args.days,
        seed=args.seed,
        lfw_dir=args.lfw,
        data_dir=args.data_dir,
        database_url=args.database_url,
        transport=args.transport,
        review=not args.no_review,
    )
    sys.stdout.write(json.dumps(figures, ensure_ascii=False, indent=None if args.json else 2) + "\n")
    return 0
