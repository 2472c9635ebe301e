"""``anju recognition embed | eval lfw | eval openset | calibrate``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pack", default="faceplugin", help="model pack for embedder/landmarks/liveness")
    p.add_argument("--detector", choices=["yunet", "scrfd", "rfb320"], default=None, help="face detector")
    p.add_argument("--detector-pack", default=None, help="pack holding the detector (e.g. scrfd_500m)")
    p.add_argument("--flip-fusion", action="store_true", help="fuse the embedding of the mirrored face")
    p.add_argument(
        "--fusion",
        default=None,
        metavar="SOURCES",
        help="comma-separated extra alignments fused with the primary one, e.g. yunet or "
        "yunet,flip,yunet:flip (flip | <detector>[+68][:flip]); one embedding each",
    )
    p.add_argument(
        "--profile",
        choices=["default", "accurate"],
        default=None,
        help="accurate: the pack's measured fusion for one-off enrolment/verification "
        "(see docs/recognition.md); --fusion overrides it",
    )
    p.add_argument("--model-dir", type=Path, default=None, help="model cache (default: $ANJU_MODEL_DIR)")


def _config(args: argparse.Namespace, **extra: Any) -> Any:
    from pydantic import ValidationError

    from anju.config import ConfigError, format_validation_error
    from recognition.config import PROFILES, RecognitionConfig

    fields: dict[str, Any] = {"pack": args.pack, "flip_fusion": args.flip_fusion, **extra}
    if args.fusion is not None:
        fields["fusion"] = [s.strip() for s in args.fusion.split(",") if s.strip()]
    elif args.profile is not None:
        fields["fusion"] = list(PROFILES[args.profile])
    if args.detector:
        fields["detector"] = args.detector
    if args.detector_pack:
        fields["detector_pack"] = args.detector_pack
    try:
        return RecognitionConfig(**fields)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "command line (--fusion/--detector)")) from exc


def register(sub: Any) -> None:
    parser = sub.add_parser("recognition", help="face detection/embedding and accuracy evaluations")
    rsub = parser.add_subparsers(dest="recognition_cmd", metavar="CMD")

    p = rsub.add_parser("embed", help="per face: box, 5 points, score, quality, liveness and embedding")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.add_argument("--no-liveness", action="store_true")
    _model_args(p)
    p.set_defaults(func=_cmd_embed)

    ev = rsub.add_parser("eval", help="accuracy evaluations")
    esub = ev.add_subparsers(dest="eval_cmd", metavar="EVAL")
    p = esub.add_parser("lfw", help="LFW View-2 10-fold verification")
    p.add_argument("--root", type=Path, required=True, help="LFW folder (<Name>/<Name>_NNNN.jpg)")
    p.add_argument("--pairs", type=Path, required=True, help="pairs.txt")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--json", action="store_true")
    _model_args(p)
    p.set_defaults(func=_cmd_lfw)

    p = esub.add_parser("openset", help="open-set 1:N identification on a labelled folder")
    p.add_argument("--root", type=Path, required=True, help="folder of <person>/<images>")
    p.add_argument("--gallery", type=int, default=1000, help="identities enrolled (one image each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--json", action="store_true")
    _model_args(p)
    p.set_defaults(func=_cmd_openset)
    ev.set_defaults(func=lambda a: (ev.print_help(sys.stderr), 2)[1])

    p = rsub.add_parser(
        "calibrate",
        help="measure a pack's 1:1 (FAR) and 1:N open-set (FPIR) thresholds on your own labelled faces "
        "and store them in the model cache, where the pipeline prefers them over the manifest",
    )
    p.add_argument("--root", type=Path, required=True, help="folder of <person>/<images>")
    p.add_argument(
        "--pairs",
        type=Path,
        default=None,
        help="LFW-style pairs.txt for the 1:1 figure (default: all same-person pairs, capped, "
        "and random different-person pairs of --root)",
    )
    p.add_argument(
        "--gallery", type=int, default=1000, help="identities enrolled for the open-set figure (0: skip)"
    )
    p.add_argument("--far", type=float, default=1e-3, help="false-accept rate of the 1:1 threshold")
    p.add_argument("--fpir", type=float, default=1e-2, help="false-positive identification rate (1:N)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--dry-run", action="store_true", help="measure and print, do not write the file")
    p.add_argument("--json", action="store_true")
    _model_args(p)
    p.set_defaults(func=_cmd_calibrate)
    parser.set_defaults(func=lambda a: (parser.print_help(sys.stderr), 2)[1])


def _emit(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    else:
        for k, v in doc.items():
            sys.stdout.write(f"{k}: {v}\n")


def _cmd_embed(args: argparse.Namespace) -> int:
    from recognition.imageio import ImageError, load_image
    from recognition.pipeline import FacePipeline
    from recognition.types import Frame

    pipe = FacePipeline.from_config(_config(args), args.model_dir)
    out: list[dict[str, Any]] = []
    failures = 0
    for path in args.images:
        entry: dict[str, Any] = {"image": str(path), "model_id": pipe.model_id}
        try:
            img = load_image(path)
        except ImageError as exc:
            log.error("%s", exc)
            entry["error"] = {"reason": exc.reason, "message": str(exc)}
            failures += 1
            out.append(entry)
            continue
        results = pipe.analyze(Frame(image=img, source_id=str(path)), liveness=not args.no_liveness)
        if not results:
            msg = f"{path}: no face found (未检测到人脸)"
            log.error("%s", msg)
            entry["error"] = {"reason": "no_face", "message": msg}
            failures += 1
        entry["faces"] = [
            {
                "box": [round(v, 2) for v in r.detection.box],
                "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in r.detection.landmarks],
                "score": round(r.detection.score, 4),
                "quality": {
                    "score": round(r.quality.score, 4),
                    "inter_ocular_px": round(r.quality.inter_ocular_px, 1),
                    "blur": round(r.quality.blur, 1),
                    "yaw_deg": round(r.quality.yaw_deg, 1),
                    "pitch_deg": round(r.quality.pitch_deg, 1),
                    "reasons": list(r.quality.reasons),
                },
                "liveness": None
                if r.liveness is None
                else {
                    "score": round(r.liveness.score, 4),
                    "threshold": r.liveness.threshold,
                    "live": r.liveness.live,
                },
                "embedding": None
                if r.embedding is None
                else [round(float(v), 6) for v in r.embedding.vector],
            }
            for r in results
        ]
        out.append(entry)
    if args.json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    else:
        for e in out:
            if "error" in e:
                sys.stdout.write(f"{e['image']}: ERROR {e['error']['message']}\n")
                continue
            for i, f in enumerate(e["faces"]):
                live = "" if f["liveness"] is None else f" live={f['liveness']['score']:.2f}"
                q = f["quality"]
                why = " " + ",".join(q["reasons"]) if q["reasons"] else ""
                sys.stdout.write(
                    f"{e['image']} face {i}: box={f['box']} score={f['score']:.2f} quality={q['score']:.2f}"
                    f"{why}{live} dim={len(f['embedding'] or [])}\n"
                )
    return 2 if failures else 0


def _cmd_lfw(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from recognition.evalrun import embed_images
    from recognition.metrics import kfold_accuracy, parse_lfw_pairs, tar_at_far

    t0 = time.perf_counter()
    cfg = _config(args)
    pairs = parse_lfw_pairs(args.pairs)
    images = sorted({p.a for p in pairs} | {p.b for p in pairs})
    missing = [i for i in images if not (args.root / i).is_file()]
    if missing:
        from recognition.metrics import EvalDataError

        raise EvalDataError(
            f"{args.root}: {len(missing)} images of the pairs file are missing, e.g. {missing[0]}"
        )
    res = embed_images([args.root / i for i in images], cfg, args.model_dir, args.workers)
    index = {name: k for k, name in enumerate(images)}
    a = res.vectors[[index[p.a] for p in pairs]]
    b = res.vectors[[index[p.b] for p in pairs]]
    scores = (a * b).sum(axis=1)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    accs, thrs = kfold_accuracy(scores, same, folds)
    tar3, t3 = tar_at_far(scores, same, 1e-3)
    tar4, _ = tar_at_far(scores, same, 1e-2)
    doc = {
        "accuracy_mean": round(float(np.mean(accs)), 5),
        "accuracy_std": round(float(np.std(accs)), 5),
        "tar_at_far_1e-3": round(tar3, 5),
        "threshold_at_far_1e-3": round(t3, 4),
        "tar_at_far_1e-2": round(tar4, 5),
        "threshold": round(float(np.mean(thrs)), 4),
        "fold_accuracies": [round(x, 4) for x in accs],
        "pairs": len(pairs),
        "images": len(images),
        "failed_images": len(res.failed),
        "unreadable_images": len(res.unreadable),
        "model_id": res.model_id,
        "detector": cfg.detector,
        "flip_fusion": cfg.flip_fusion,
        "fusion": list(cfg.fusion),
        "embeddings_per_face": 1 + len(cfg.fusion),
        "fusion_faces_missing_views": res.fusion_missed,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    _emit(doc, args.json)
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from anju.clock import SystemClock
    from anju.config import ConfigError
    from models.calibration import calibration_path, save_calibration
    from recognition.calibrate import calibrate
    from recognition.metrics import EvalDataError

    cfg = _config(args)
    if cfg.fusion and not args.dry_run:
        # calibration.json records detector and flip setting, not fusion: a fused calibration written
        # there would silently replace the single-embedding pipeline's thresholds
        raise ConfigError(
            f"--fusion {','.join(cfg.fusion)}: fused thresholds cannot be stored in the model cache "
            "(the pipeline would apply them to single embeddings); use --dry-run and set "
            "match_threshold in the recognition config of the fused pipeline"
        )
    if not (0.0 < args.far < 1.0 and 0.0 < args.fpir < 1.0):
        raise EvalDataError(f"--far {args.far} / --fpir {args.fpir}: rates must lie between 0 and 1")
    if args.gallery < 0:
        raise EvalDataError(f"--gallery {args.gallery}: must be 0 (skip the open-set figure) or more")
    cal = calibrate(
        cfg,
        args.root,
        SystemClock(),
        pairs_file=args.pairs,
        gallery=args.gallery,
        far=args.far,
        fpir=args.fpir,
        seed=args.seed,
        model_dir=args.model_dir,
        workers=args.workers,
    )
    doc: dict[str, Any] = cal.model_dump(mode="json")
    if args.dry_run:
        doc["written_to"] = None
    else:
        doc["written_to"] = str(save_calibration(cal, args.model_dir))
    doc["calibration_file"] = str(calibration_path(cal.pack, args.model_dir))
    _emit(doc, args.json)
    return 0


def _cmd_openset(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from recognition.calibrate import list_people, open_set_split
    from recognition.evalrun import embed_images
    from recognition.metrics import open_set

    t0 = time.perf_counter()
    cfg = _config(args)
    split = open_set_split(list_people(args.root), args.gallery, args.seed, args.root)
    gallery_people, gallery_imgs, probes, probe_ids = (
        split.gallery_people,
        split.gallery_images,
        split.probes,
        split.probe_ids,
    )
    res = embed_images(gallery_imgs + probes, cfg, args.model_dir, args.workers)
    g, p = res.vectors[: len(gallery_imgs)], res.vectors[len(gallery_imgs) :]
    sim = p @ g.T
    m = open_set(sim, np.array(probe_ids), np.array(gallery_people), (1e-2, 1e-3))
    doc: dict[str, Any] = {
        "fnir_at_fpir_1e-2": round(m["fnir_at_fpir_1e-2"], 5),
        "fnir_at_fpir_1e-3": round(m["fnir_at_fpir_1e-3"], 5),
        "rank1": round(m["rank1"], 5),
        "threshold_at_fpir_1e-2": round(m["threshold_at_fpir_1e-2"], 4),
        "threshold_at_fpir_1e-3": round(m["threshold_at_fpir_1e-3"], 4),
        "gallery": len(gallery_people),
        "mated_probes": m["mated_probes"],
        "non_mated_probes": m["non_mated_probes"],
        "failed_images": len(res.failed),
        "model_id": res.model_id,
        "detector": cfg.detector,
        "flip_fusion": cfg.flip_fusion,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    _emit(doc, args.json)
    return 0
