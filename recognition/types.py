"""The typed objects that flow between recognition stages.

Frame → Detection (box, 5 points, score) → AlignedFace → Embedding → Match.
Arrays are numpy; coordinates are pixels in the frame they came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded BGR uint8 image (H×W×3)."""

    image: np.ndarray
    source_id: str = ""
    index: int = 0
    timestamp: float = 0.0  # seconds on the producer's monotonic clock

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True)
class Detection:
    """A face: box (x1, y1, x2, y2), five landmarks (left eye, right eye, nose, left mouth, right mouth)
    in image coordinates as a (5, 2) float32 array, and the detector's score in 0..1."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class AlignedFace:
    """A face warped to the 112×112 ArcFace template; ``transform`` is the 2×3 image→template matrix."""

    image: np.ndarray
    detection: Detection
    transform: np.ndarray


@dataclass(frozen=True)
class Quality:
    """Quality in 0..1 and, when the face should not be used, the reasons why."""

    score: float
    inter_ocular_px: float
    blur: float
    yaw_deg: float
    pitch_deg: float
    detector_score: float
    reasons: tuple[str, ...] = ()

    @property
    def acceptable(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class Liveness:
    score: float
    threshold: float

    @property
    def live(self) -> bool:
        return self.score >= self.threshold


@dataclass(frozen=True)
class Embedding:
    """An L2-normalised float32 vector and the id of the model that made it."""

    vector: np.ndarray
    model_id: str


@dataclass(frozen=True)
class Match:
    """One candidate from a 1:N search."""

    person_id: str
    score: float


@dataclass(frozen=True)
class SearchResult:
    """Top-k candidates and the open-set decision at the index's threshold."""

    candidates: tuple[Match, ...]
    threshold: float
    model_id: str

    @property
    def best(self) -> Match | None:
        return self.candidates[0] if self.candidates else None

    @property
    def accepted(self) -> Match | None:
        best = self.best
        return best if best is not None and best.score >= self.threshold else None


@dataclass
class FaceResult:
    """Everything the pipeline knows about one face in one frame."""

    detection: Detection
    quality: Quality
    embedding: Embedding | None = None
    liveness: Liveness | None = None
    aligned: AlignedFace | None = field(default=None, repr=False)
