"""``anju edge run|check|serve-rtsp``: run a gate box, validate its config, serve a test camera."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser = sub.add_parser("edge", help="the gate-box process: cameras, decisions, doors")
    esub = parser.add_subparsers(dest="edge_cmd", metavar="CMD")

    run = esub.add_parser("run", help="run the edge node until interrupted")
    run.add_argument("--config", type=Path, required=True, help="edge YAML file")
    run.set_defaults(func=_run)

    check = esub.add_parser("check", help="validate the YAML and probe every camera")
    check.add_argument("--config", type=Path, required=True, help="edge YAML file")
    check.add_argument("--no-probe", action="store_true", help="validate only, do not open cameras")
    check.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per camera probe (default: the camera's open_timeout_s + stall_timeout_s + 1)",
    )
    check.set_defaults(func=_check)

    rtsp = esub.add_parser("serve-rtsp", help="serve a video file over RTSP on loopback (demo camera)")
    rtsp.add_argument("video", type=Path)
    rtsp.add_argument("--port", type=int, default=8554)
    rtsp.add_argument("--path", default="cam")
    rtsp.add_argument("--loops", type=int, default=100)
    rtsp.set_defaults(func=_serve_rtsp)

    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _run(args: argparse.Namespace) -> int:
    from edge.app import EdgeNode
    from edge.config import load_edge_config

    cfg = load_edge_config(args.config)
    node = EdgeNode(cfg)
    done = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    node.start()
    try:
        while not done.wait(1.0):
            pass
    finally:
        node.stop()
    return 0


def _check(args: argparse.Namespace) -> int:
    from edge.camera import probe
    from edge.config import load_edge_config

    cfg = load_edge_config(args.config)  # ConfigError → exit 2 with file and key named
    log.info(
        "%s: valid (site %s, node %s, %d camera(s), %d door(s))",
        args.config,
        cfg.site_id,
        cfg.node_id,
        len(cfg.cameras),
        len(cfg.doors),
    )
    if args.no_probe:
        return 0
    failed = 0
    for cam in cfg.cameras:
        ok, detail = probe(cam, args.timeout)
        if ok:
            log.info("camera %s: OK %s", cam.id, detail)
        else:
            failed += 1
            log.error("camera %s (%s %s): %s", cam.id, cam.source, _redact(cam.url), detail)
    return 1 if failed else 0


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _serve_rtsp(args: argparse.Namespace) -> int:
    from edge.rtsp_server import RtspServer

    server = RtspServer(args.video, port=args.port, path=args.path, loops=args.loops)
    server.start()
    log.info("serving %s at %s (Ctrl-C to stop)", args.video, server.url)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        while not done.wait(1.0):
            if not server.running:
                log.error("RTSP server exited")
                return 1
    finally:
        server.stop()
    return 0
