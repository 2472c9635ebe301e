"""``anju models list`` and ``anju models fetch``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    parser = sub.add_parser("models", help="model packs: list, fetch (cache / mirror / upstream)")
    msub = parser.add_subparsers(dest="models_cmd", metavar="CMD")

    p_list = msub.add_parser("list", help="packs, licenses and which files are present")
    p_list.add_argument(
        "--model-dir", type=Path, default=None, help="cache folder (default: $ANJU_MODEL_DIR)"
    )
    p_list.add_argument("--json", action="store_true")
    p_list.set_defaults(func=_cmd_list)

    p_fetch = msub.add_parser("fetch", help="fetch and verify a pack into the model cache")
    p_fetch.add_argument("--pack", action="append", default=None, help="pack name (repeatable; default pack)")
    p_fetch.add_argument(
        "--mirror", type=Path, default=None, help="local folder with model files or archives"
    )
    p_fetch.add_argument(
        "--model-dir", type=Path, default=None, help="cache folder (default: $ANJU_MODEL_DIR)"
    )
    p_fetch.add_argument(
        "--accept-non-commercial",
        action="store_true",
        help="required for InsightFace packs: their pretrained weights are non-commercial only",
    )
    p_fetch.set_defaults(func=_cmd_fetch)
    parser.set_defaults(func=lambda args: (parser.print_help(sys.stderr), 2)[1])


def _cmd_list(args: argparse.Namespace) -> int:
    from models.calibration import load_calibration
    from models.errors import ModelError
    from models.registry import manifest
    from models.store import default_model_dir, present

    man = manifest()
    model_dir = args.model_dir or default_model_dir()
    rows: list[dict[str, Any]] = []
    for name, pack in man.packs.items():
        have = present(name, model_dir)
        thresholds: dict[str, Any] | None = None
        if pack.has_role("embedder") and (params := pack.file("embedder").embedder) is not None:
            try:
                cal = load_calibration(name, model_dir)
            except ModelError as exc:
                log.error("%s", exc)
                cal = None
            det = next((d for d in ("rfb320", "scrfd", "yunet") if pack.has_role(f"detector_{d}")), "rfb320")
            thresholds = {
                "detector": det,
                "measured": params.thresholds_measured,
                "match_threshold": params.match_threshold,
                "open_set_threshold": params.open_set_threshold,
                "calibration": None
                if cal is None
                else {
                    "match_threshold": cal.match_threshold,
                    "open_set_threshold": cal.open_set_threshold,
                    "model_id": cal.model_id,
                    "detector": cal.detector,
                    "measured_at": cal.measured_at.isoformat(),
                },
            }
        rows.append(
            {
                "pack": name,
                "default": name == man.default_pack,
                "license": pack.license,
                "commercial_use": pack.commercial_use,
                "thresholds": thresholds,
                "files": [
                    {"role": f.role, "filename": f.filename, "present": have[f.filename]} for f in pack.files
                ],
            }
        )
    if args.json:
        sys.stdout.write(
            json.dumps({"model_dir": str(model_dir), "packs": rows}, ensure_ascii=False, indent=2)
        )
        sys.stdout.write("\n")
        return 0
    out = [f"model dir: {model_dir}"]
    for row in rows:
        n_have = sum(1 for f in row["files"] if f["present"])
        flag = " (default)" if row["default"] else ""
        nc = "" if row["commercial_use"] else "  [non-commercial only 仅限非商业]"
        out.append(f"{row['pack']}{flag}: {n_have}/{len(row['files'])} present — {row['license']}{nc}")
        if (th := row["thresholds"]) is not None:
            out.append("    thresholds: " + _threshold_line(row["pack"], th))
        for f in row["files"]:
            out.append(f"    {'✓' if f['present'] else '·'} {f['role']:<16} {f['filename']}")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _threshold_line(pack: str, th: dict[str, Any]) -> str:
    cal = th["calibration"]
    if cal is not None:
        return (
            f"calibrated here {cal['measured_at'][:10]} (match {cal['match_threshold']}, "
            f"open-set {cal['open_set_threshold']}, detector {cal['detector']})"
        )
    if th["measured"]:
        return f"measured (match {th['match_threshold']}, open-set {th['open_set_threshold']})"
    return (
        f"UNMEASURED placeholder (match {th['match_threshold']}); run "
        f"`anju recognition calibrate --pack {pack} --detector {th['detector']} --root DIR` "
        "before use"
    )


def _cmd_fetch(args: argparse.Namespace) -> int:
    from models.fetch import fetch_pack
    from models.store import default_pack

    packs = args.pack or [default_pack()]
    for name in packs:
        reports = fetch_pack(
            name,
            model_dir=args.model_dir,
            mirror=args.mirror,
            accept_non_commercial=args.accept_non_commercial,
        )
        for r in reports:
            sys.stdout.write(f"{r.pack}/{r.filename}: ok ({r.origin}) {r.path}\n")
    return 0
