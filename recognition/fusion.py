"""Embedding fusion: several alignments of one face, one template in the same embedding space.

The primary detector's alignment gives the first embedding; each configured extra source
(``RecognitionConfig.fusion``) gives another view of the same face: the mirrored face, or an
alignment from a second detector's five points (or from the 68-point landmarks on its box),
matched to the primary face by box IoU. The views' L2-normalised embeddings are summed and
re-normalised, so the template keeps the embedder's model id and is compared with plain cosine
like any other. Landmark errors of different detectors are partly independent, which is what the
averaging buys; each extra view costs one embedding (≈ 15 ms per face on a 2-core x86 box), so this
is meant for one-off enrolment and verification, not the real-time gate.

A face the second detector misses keeps the views it has (counted in ``FusionStats``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.registry import get_pack
from models.store import resolve
from recognition.align import align as align_face
from recognition.config import DetectorName, FusionSource, RecognitionConfig
from recognition.detect_common import Detector
from recognition.detectors import Landmarks68, build_detector
from recognition.embedder import ArcFaceEmbedder
from recognition.runtime import make_session
from recognition.types import AlignedFace, Detection, Embedding

log = logging.getLogger(__name__)

_ROLE = {"yunet": "detector_yunet", "scrfd": "detector_scrfd", "rfb320": "detector_rfb320"}


@dataclass(frozen=True)
class FusionView:
    """One parsed fusion source: flip of the primary face, or (detector, 68-point landmarks?, flip)."""

    source: FusionSource
    detector: DetectorName | None
    landmarks68: bool
    flip: bool


def parse_source(source: FusionSource) -> FusionView:
    base, _, suffix = source.partition(":")
    flip = suffix == "flip"
    if base == "flip":
        return FusionView(source, None, False, True)
    name, _, lm = base.partition("+")
    det: DetectorName
    if name == "yunet":
        det = "yunet"
    elif name == "scrfd":
        det = "scrfd"
    else:
        det = "rfb320"
    return FusionView(source, det, lm == "68", flip)


@dataclass
class FusionStats:
    """Faces fused so far, those fused from fewer views than configured (an extra detector did not
    find them), and the misses per extra detector."""

    faces: int = 0
    faces_missing_views: int = 0
    missed: dict[str, int] = field(default_factory=dict)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_face(primary: Detection, others: Sequence[Detection], min_iou: float) -> Detection | None:
    """The other detector's face overlapping ``primary`` most, if its IoU reaches ``min_iou``."""
    best, best_iou = None, min_iou
    for d in others:
        iou = box_iou(primary.box, d.box)
        if iou >= best_iou:
            best, best_iou = d, iou
    return best


def _pack_with(cfg: RecognitionConfig, role: str) -> str:
    for name in (cfg.pack, cfg.detector_pack):
        if name is not None and get_pack(name).has_role(role):
            return name
    raise ValueError(
        f"fusion: neither pack {cfg.pack!r} nor detector_pack {cfg.detector_pack!r} has a {role} model"
    )


class FusionEmbedder:
    """Fuses the configured extra views with the primary alignment; detector sessions are built once."""

    def __init__(
        self,
        views: Sequence[FusionView],
        detectors: dict[DetectorName, Detector],
        landmarks: Landmarks68 | None,
        embedder: ArcFaceEmbedder,
        min_iou: float,
    ) -> None:
        self.views = tuple(views)
        self.detectors = detectors
        self.landmarks = landmarks
        self.embedder = embedder
        self.min_iou = min_iou
        self.stats = FusionStats()

    @classmethod
    def from_config(
        cls, cfg: RecognitionConfig, embedder: ArcFaceEmbedder, model_dir: Path | None = None
    ) -> FusionEmbedder:
        views = [parse_source(s) for s in cfg.fusion]
        detectors: dict[DetectorName, Detector] = {}
        for v in views:
            if v.detector is not None and v.detector not in detectors:
                sub = cfg.model_copy(
                    update={
                        "detector": v.detector,
                        "detector_pack": _pack_with(cfg, _ROLE[v.detector]),
                        "detection_score": cfg.fusion_detection_score,
                        "fusion": [],
                    }
                )
                detectors[v.detector] = build_detector(sub, model_dir)
        landmarks = None
        if any(v.landmarks68 for v in views):
            landmarks = Landmarks68(
                make_session(
                    resolve(_pack_with(cfg, "landmarks68"), "landmarks68", model_dir),
                    intra_op_threads=cfg.intra_op_threads,
                    inter_op_threads=cfg.inter_op_threads,
                )
            )
        return cls(views, detectors, landmarks, embedder, cfg.fusion_min_iou)

    def _view_images(
        self,
        image: np.ndarray,
        det: Detection,
        face: AlignedFace,
        found: dict[DetectorName, list[Detection]],
    ) -> list[np.ndarray]:
        out = [face.image]
        missed: set[str] = set()
        for v in self.views:
            if v.detector is None:
                aligned = face.image
            else:
                other = match_face(det, found[v.detector], self.min_iou)
                if other is None:
                    missed.add(v.detector)
                    continue
                if v.landmarks68:
                    assert self.landmarks is not None
                    five = Landmarks68.five(self.landmarks.points68(image, other.box))
                    if not np.isfinite(five).all():
                        missed.add(v.detector)
                        continue
                    other = Detection(box=other.box, landmarks=five, score=other.score)
                aligned = align_face(image, other).image
            out.append(np.ascontiguousarray(aligned[:, ::-1]) if v.flip else aligned)
        for name in missed:
            self.stats.missed[name] = self.stats.missed.get(name, 0) + 1
        if missed:
            self.stats.faces_missing_views += 1
        return out

    def embed(
        self, image: np.ndarray, dets: Sequence[Detection], faces: Sequence[AlignedFace]
    ) -> list[Embedding]:
        """One fused template per primary face of ``image`` (``faces[i]`` is ``dets[i]`` aligned)."""
        if not faces:
            return []
        found = {name: d.detect(image) for name, d in self.detectors.items()}
        per_face = [self._view_images(image, d, f, found) for d, f in zip(dets, faces, strict=True)]
        self.stats.faces += len(faces)
        vecs = self.embedder.vectors([im for views in per_face for im in views])
        out: list[Embedding] = []
        start = 0
        for views in per_face:
            fused = vecs[start : start + len(views)].sum(axis=0)
            start += len(views)
            fused = (fused / max(float(np.linalg.norm(fused)), 1e-12)).astype(np.float32)
            out.append(Embedding(vector=fused, model_id=self.embedder.model_id))
        return out
