"""``anju bench pipeline``: detect + align + embed frames/s, ours vs InsightFace ``FaceAnalysis``.

Both run the same SCRFD-500M detector (pack ``scrfd_500m``) and the same embedder
(the default pack's ``fr_feature.onnx``) on the same decoded images, in this run.

Two figures:
- ``single_stream``: one frame after another, both with the same ONNX Runtime thread count;
- ``throughput``: what each achieves on all cores. FaceAnalysis is one object with
  multi-threaded sessions; ours runs one single-threaded pipeline per core in worker
  threads (ONNX Runtime releases the GIL), which is how the edge node runs cameras.
The ratio is ours / InsightFace. Faces found are reported to show both did the same work.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_IMAGES = [
    "examples/obama.jpg",
    "examples/biden.jpg",
    "examples/two_people.jpg",
    "examples/obama-720p.jpg",
    "examples/obama-1080p.jpg",
    "images/t1.jpg",
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--testdata", type=Path, default=Path("../shared/testdata"), help="folder with the images")
    p.add_argument("--images", nargs="*", default=None, help="image paths (default: six shared test images)")
    p.add_argument("--seconds", type=float, default=8.0, help="measuring time per configuration")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="cores to use for throughput")
    p.add_argument("--model-dir", type=Path, default=None)
    p.add_argument("--json", action="store_true")


def _measure(fn: Any, frames: list[Any], seconds: float) -> tuple[float, int]:
    """Frames per second of calling ``fn`` over ``frames`` repeatedly for about ``seconds``."""
    for f in frames:  # warm-up
        fn(f)
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for f in frames:
            fn(f)
        n += len(frames)
    return n / (time.perf_counter() - t0), n


def _measure_parallel(fns: list[Any], frames: list[Any], seconds: float) -> float:
    for fn in fns:
        for f in frames:
            fn(f)
    counts = [0] * len(fns)
    stop = threading.Event()

    def loop(i: int) -> None:
        k = i
        while not stop.is_set():
            fns[i](frames[k % len(frames)])
            k += 1
            counts[i] += 1

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(len(fns))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def run(args: argparse.Namespace) -> int:
    import warnings

    import numpy as np
    from insightface.app import FaceAnalysis

    # insightface's own alignment calls a deprecated scikit-image API on every face
    warnings.filterwarnings("ignore", category=FutureWarning)

    from models.store import resolve
    from recognition.config import RecognitionConfig
    from recognition.imageio import load_image
    from recognition.pipeline import FacePipeline
    from recognition.types import Frame

    scrfd = resolve("scrfd_500m", "detector_scrfd", args.model_dir)
    feature = resolve("faceplugin", "embedder", args.model_dir)
    paths = [Path(p) for p in args.images] if args.images else [args.testdata / p for p in DEFAULT_IMAGES]
    images = [load_image(p) for p in paths]
    frames = [Frame(image=im, source_id=str(p)) for im, p in zip(images, paths, strict=True)]

    def ours_fn(pipe: FacePipeline) -> Any:
        def fn(frame: Frame) -> int:
            dets = pipe.detect(frame)
            if dets:
                pipe.embed([pipe.align(frame, d) for d in dets])
            return len(dets)

        return fn

    def cfg(threads: int) -> RecognitionConfig:
        return RecognitionConfig(
            detector="scrfd", detector_pack="scrfd_500m", detection_score=0.5, intra_op_threads=threads
        )

    with tempfile.TemporaryDirectory(prefix="anju-bench-") as tmp:
        for src in (scrfd, feature):
            os.symlink(src, Path(tmp) / src.name)

        def insight(threads: int) -> Any:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            app = _face_analysis(FaceAnalysis, tmp, so)
            app.prepare(ctx_id=-1, det_size=(640, 640), det_thresh=0.5)
            return lambda fr: len(app.get(fr.image))

        one_ours = ours_fn(FacePipeline.from_config(cfg(1), args.model_dir))
        one_theirs = insight(1)
        faces_ours = [one_ours(f) for f in frames]
        faces_theirs = [one_theirs(f) for f in frames]
        fps_ours_1, _ = _measure(one_ours, frames, args.seconds)
        fps_theirs_1, _ = _measure(one_theirs, frames, args.seconds)

        n = max(1, args.threads)
        many_ours = [ours_fn(FacePipeline.from_config(cfg(1), args.model_dir)) for _ in range(n)]
        fps_ours_n = _measure_parallel(many_ours, frames, args.seconds)
        theirs_n = insight(n)
        fps_theirs_n, _ = _measure(theirs_n, frames, args.seconds)

    doc = {
        "images": [str(p) for p in paths],
        "faces_ours": faces_ours,
        "faces_insightface": faces_theirs,
        "single_stream": {
            "threads": 1,
            "ours_fps": round(fps_ours_1, 2),
            "insightface_fps": round(fps_theirs_1, 2),
            "ratio": round(fps_ours_1 / fps_theirs_1, 3),
        },
        "throughput": {
            "threads": n,
            "ours_fps": round(fps_ours_n, 2),
            "insightface_fps": round(fps_theirs_n, 2),
            "ratio": round(fps_ours_n / fps_theirs_n, 3),
        },
        "detector": scrfd.name,
        "embedder": feature.name,
        "mean_faces_per_image": float(np.mean(faces_ours)),
    }
    if args.json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0


def _face_analysis(cls: Any, model_dir: str, so: Any) -> Any:
    """FaceAnalysis over ``model_dir`` whose sessions use ``so`` (same thread settings as ours)."""
    return cls(
        name=model_dir,
        allowed_modules=["detection", "recognition"],
        providers=["CPUExecutionProvider"],
        sess_options=so,
    )
