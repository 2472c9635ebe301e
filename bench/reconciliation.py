"""``anju bench reconciliation``: 一标三实 candidates against the simulated community's ground truth.

Runs ``anju simulate community`` (real LFW face embeddings, real gateway by default) and
reports precision/recall of unregistered-occupant and moved-away candidates, cluster purity,
days to discovery and review actions per true finding. Targets: recall ≥ 0.9 at precision
≥ 0.8 for both kinds within 14 simulated days.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

TARGET_RECALL = 0.9
TARGET_PRECISION = 0.8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from central.simulation.cli import add_community_arguments

    add_community_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from central.simulation.session import run_community

    figures: dict[str, Any] = run_community(
        days=args.days,
        seed=args.seed,
        lfw_dir=args.lfw,
        data_dir=args.data_dir,
        database_url=args.database_url,
        transport=args.transport,
        review=not args.no_review,
    )
    figures["targets"] = {
        kind: {
            "recall_target": TARGET_RECALL,
            "precision_target": TARGET_PRECISION,
            "met": figures[kind]["recall"] >= TARGET_RECALL
            and figures[kind]["precision"] >= TARGET_PRECISION,
        }
        for kind in ("occupant", "moved_away")
    }
    sys.stdout.write(json.dumps(figures, ensure_ascii=False, indent=None if args.json else 2) + "\n")
    return 0
