"""``anju bench NAME``: each benchmark module registers its own sub-command.

A benchmark module ``bench/<name>.py`` defines ``add_arguments(parser)`` and
``run(args) -> int`` and keeps heavy imports inside ``run``.
"""

from __future__ import annotations

import importlib
from typing import Any

BENCHES: dict[str, tuple[str, str]] = {
    "index": ("bench.index", "FAISS whitelist index latency/recall/memory vs exact"),
    "pipeline": ("bench.pipeline", "detect+align+embed frames/s vs InsightFace FaceAnalysis"),
    "gateway": ("bench.gateway", "events/s edge outbox → broker → central database"),
    "edge": ("bench.edge", "decision latency and streams per box"),
    "central": ("bench.central", "ingest rate, query latency, alert delivery"),
    "reconciliation": ("bench.reconciliation", "一标三实 candidates vs simulated ground truth"),
    "registry": ("bench.registry", "registry import rows/s, person search, duplicate scan, enrolment"),
    "soak": ("bench.soak", "end-to-end soak with process kills"),
}


def register(sub: Any) -> None:
    parser = sub.add_parser("bench", help="benchmarks (JSON figures)")
    bsub = parser.add_subparsers(dest="bench", metavar="BENCH")
    for name, (module_name, help_text) in BENCHES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not built yet
            raise
        p = bsub.add_parser(name, help=help_text)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
