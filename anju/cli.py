"""The ``anju`` command.

Each component contributes one command group through a ``register`` function in
its own ``cli`` module; this module only assembles them. Those modules keep heavy
imports (ONNX Runtime, FAISS, SQLAlchemy) inside their handlers so that
``anju --help`` and unrelated commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from anju import __version__
from anju.config import ConfigError
from anju.errors import AnjuError
from anju.logs import setup_logging

log = logging.getLogger("anju")

# group name -> module exposing ``register(subparsers)``
GROUPS: dict[str, str] = {
    "models": "models.cli",
    "recognition": "recognition.cli",
    "gateway": "gateway.cli",
    "central": "central.cli",
    "edge": "edge.cli",
    "simulate": "central.simulation.cli",
    "bench": "bench.cli",
    "demo": "anju.demo",
}

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anju", description="Anju (安居) smart-community security")
    parser.add_argument("--version", action="version", version=f"anju {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument("--log-json", action="store_true", help="structured JSON log lines")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND")
    for _name, module_name in GROUPS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A group whose module is not part of this build stays out of the help.
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_json)
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return func(args)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except AnjuError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        log.info("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
