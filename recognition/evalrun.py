"""Embedding many dataset images in parallel for the evaluations (one pipeline per worker process).

Each worker loads its own models with one ONNX Runtime thread, so N workers use N
cores without oversubscription. For every image the face nearest the image centre
is used (dataset images are centred on their subject); when no face is found the
detector is retried at a low score threshold, and failing that the image counts
as failed and is embedded from a fixed central alignment, as the protocol has no
"skip" (failed images are reported).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.registry import get_pack, model_id
from recognition.align import ARCFACE_TEMPLATE
from recognition.config import RecognitionConfig
from recognition.imageio import ImageError, load_image
from recognition.pipeline import FacePipeline
from recognition.types import AlignedFace, Detection, Frame

log = logging.getLogger(__name__)

_pipe: FacePipeline | None = None
_low: FacePipeline | None = None


@dataclass(frozen=True)
class EmbedOutcome:
    vectors: np.ndarray  # (N, dim) float32; rows of failed images hold the fallback embedding
    failed: list[str]  # images where no face was detected (fallback used) or that could not be read
    unreadable: list[str]
    model_id: str
    fusion_missed: int = 0  # faces an extra fusion detector did not find (fused from fewer views)


def _central(det_like_shape: tuple[int, ...]) -> Detection:
    """The ArcFace template centred in the image at a scale typical of LFW (face ≈ 40 % of the side)."""
    h, w = det_like_shape[:2]
    s = 0.4 * min(h, w) / 112.0 * 2.0
    pts = (ARCFACE_TEMPLATE - 56.0) * s + np.array([w / 2, h / 2])
    return Detection(box=(0.0, 0.0, float(w), float(h)), landmarks=pts.astype(np.float32), score=0.0)


def pick_central(dets: Sequence[Detection], shape: tuple[int, ...]) -> Detection | None:
    """Among faces at least half as large as the largest, the one closest to the image centre."""
    if not dets:
        return None
    h, w = shape[:2]
    largest = max(d.width * d.height for d in dets)
    cands = [d for d in dets if d.width * d.height >= 0.5 * largest]
    return min(
        cands,
        key=lambda d: ((d.box[0] + d.box[2]) / 2 - w / 2) ** 2 + ((d.box[1] + d.box[3]) / 2 - h / 2) ** 2,
    )


def _init(cfg_json: str, model_dir: str | None) -> None:
    global _pipe, _low
    cfg = RecognitionConfig.model_validate_json(cfg_json)
    md = Path(model_dir) if model_dir else None
    _pipe = FacePipeline.from_config(cfg, md)
    # the low-threshold pipeline only re-detects; embedding (and fusion) stays with _pipe
    _low = FacePipeline.from_config(cfg.model_copy(update={"detection_score": 0.3, "fusion": []}), md)


def _work(path: str) -> tuple[str, np.ndarray | None, str, int]:
    """(path, vector or None, status, fusion views missed) with status ok | fallback | unreadable."""
    assert _pipe is not None and _low is not None
    try:
        img = load_image(Path(path))
    except ImageError as exc:
        log.warning("%s", exc)
        return path, None, "unreadable", 0
    frame = Frame(image=img, source_id=path)
    det = pick_central(_pipe.detect(frame), img.shape)
    status = "ok"
    if det is None:
        det = pick_central(_low.detect(frame), img.shape)
    if det is None:
        det = _central(img.shape)
        status = "fallback"
    face: AlignedFace = _pipe.align(frame, det)
    before = _pipe.fusion.stats.faces_missing_views if _pipe.fusion is not None else 0
    vec = _pipe.embed_frame(frame, [det], [face])[0].vector
    missed = (_pipe.fusion.stats.faces_missing_views if _pipe.fusion is not None else 0) - before
    return path, vec, status, missed


def embed_images(
    paths: Sequence[Path], cfg: RecognitionConfig, model_dir: Path | None = None, workers: int | None = None
) -> EmbedOutcome:
    """Embed ``paths`` with ``workers`` processes (default: all cores)."""
    n = workers or os.cpu_count() or 1
    cfg = cfg.model_copy(update={"intra_op_threads": 1, "inter_op_threads": 1})
    cfg_json = cfg.model_dump_json()
    md = str(model_dir) if model_dir else None
    strs = [str(p) for p in paths]
    if n <= 1:
        _init(cfg_json, md)
        results = [_work(p) for p in strs]
    else:
        ctx = mp.get_context("spawn")  # fresh processes: no ORT state inherited from the parent
        with ctx.Pool(n, initializer=_init, initargs=(cfg_json, md)) as pool:
            results = []
            for r in pool.imap(_work, strs, chunksize=32):
                results.append(r)
                if len(results) % 1000 == 0:
                    log.info("embedded %d / %d images", len(results), len(strs))
    dim = next((v.shape[0] for _, v, _, _ in results if v is not None), 512)
    vecs = np.zeros((len(strs), dim), np.float32)
    failed, unreadable = [], []
    fusion_missed = 0
    for i, (p, v, status, missed) in enumerate(results):
        fusion_missed += missed
        if v is not None:
            vecs[i] = v
        if status != "ok":
            failed.append(p)
        if status == "unreadable":
            unreadable.append(p)
    return EmbedOutcome(
        vecs, failed, unreadable, model_id(cfg.pack, get_pack(cfg.pack).file("embedder")), fusion_missed
    )
