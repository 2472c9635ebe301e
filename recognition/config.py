"""Configuration of the recognition pipeline (one slice of the node's/central's config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from anju.config import StrictModel

DetectorName = Literal["yunet", "scrfd", "rfb320"]

# Extra alignments of the same face whose embeddings are fused with the primary one (see
# ``recognition.fusion``): "flip" mirrors the primary aligned face; "<detector>" aligns with that
# detector's own 5 points, "<detector>+68" with 5 points from the 68-point landmarks on that
# detector's box; ":flip" mirrors that alignment.
FusionSource = Literal[
    "flip",
    "yunet",
    "yunet:flip",
    "yunet+68",
    "yunet+68:flip",
    "scrfd",
    "scrfd:flip",
    "scrfd+68",
    "scrfd+68:flip",
    "rfb320",
    "rfb320:flip",
]

# Named recognition profiles: the extra alignments each fuses (measured on LFW, docs/recognition.md).
# "default" is the real-time single embedding; "accurate" is for one-off enrolment and verification.
PROFILES: dict[str, tuple[FusionSource, ...]] = {
    "default": (),
    "accurate": ("yunet", "flip", "yunet:flip"),
}


class RecognitionConfig(StrictModel):
    """Which models run and the thresholds that turn their outputs into decisions."""

    pack: str = Field("faceplugin", description="model pack for the embedder, landmarks and liveness")
    detector: DetectorName = Field(
        "rfb320",
        description="face detector: yunet, rfb320 (+68 landmarks) or scrfd (InsightFace packs)",
    )
    detector_pack: str | None = Field(
        None, description="pack holding the detector when it is not `pack` (e.g. scrfd_500m or buffalo_s)"
    )
    detection_score: float = Field(0.6, ge=0.0, le=1.0, description="minimum detector score of a face")
    nms_iou: float = Field(0.4, gt=0.0, le=1.0, description="IoU above which overlapping boxes are merged")
    max_faces: int = Field(32, ge=1, le=1000, description="at most this many faces per frame, best first")
    detector_max_side: int = Field(
        640,
        ge=128,
        le=4096,
        description="YuNet: frames are scaled down so that the longer side is at most this",
    )
    min_inter_ocular_px: float = Field(
        16.0, ge=0.0, description="faces with fewer pixels between the eye centres are rejected as too small"
    )
    min_blur: float = Field(
        25.0, ge=0.0, description="minimum variance of the Laplacian of the aligned 112×112 face (sharpness)"
    )
    max_yaw_deg: float = Field(40.0, gt=0.0, le=90.0, description="maximum head turn left/right")
    max_pitch_deg: float = Field(35.0, gt=0.0, le=90.0, description="maximum head tilt up/down")
    min_detector_score_quality: float = Field(
        0.7, ge=0.0, le=1.0, description="faces below this detector score are usable for display only"
    )
    liveness_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="liveness score at or above which a face is live"
    )
    flip_fusion: bool = Field(False, description="average the embeddings of the face and its mirror image")
    fusion: list[FusionSource] = Field(
        default_factory=list,
        max_length=8,
        description="extra alignments of each face whose L2-normalised embeddings are averaged with the "
        "primary one and re-normalised (same embedding space and model id): flip, <detector>[+68][:flip]; "
        "a face the extra detector misses keeps the alignments it has. Costs one embedding each",
    )
    fusion_detection_score: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="minimum score of an extra fusion detector's face (low: it only has to confirm a face "
        "the primary detector found, matched by IoU)",
    )
    fusion_min_iou: float = Field(
        0.3, gt=0.0, le=1.0, description="box IoU at which an extra detector's face is the primary face"
    )
    match_threshold: float | None = Field(
        None, ge=-1.0, le=1.0, description="cosine threshold override; default: the pack's calibrated value"
    )
    intra_op_threads: int = Field(
        1, ge=0, le=64, description="ONNX Runtime threads per model (0: runtime default)"
    )
    inter_op_threads: int = Field(1, ge=0, le=64, description="ONNX Runtime inter-op threads")

    @model_validator(mode="after")
    def _check_fusion(self) -> RecognitionConfig:
        if len(set(self.fusion)) != len(self.fusion):
            raise ValueError(f"fusion: {self.fusion} names a source twice")
        if self.detector in self.fusion:
            raise ValueError(
                f"fusion: {self.detector!r} is the primary detector (already the first embedding); "
                f"use '{self.detector}+68' or 'flip'"
            )
        return self
