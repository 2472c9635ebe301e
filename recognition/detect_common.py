"""What every detector shares: the Protocol, non-maximum suppression, and packing results."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from recognition.types import Detection


class Detector(Protocol):
    """Finds faces in a BGR uint8 frame: boxes, five landmarks and a score, best first."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression, highest score first."""
    if len(boxes) == 0:
        return []
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        union = areas[i] + areas[rest] - inter
        ov = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[ov <= iou]
    return keep


def to_detections(
    boxes: np.ndarray, landmarks: np.ndarray, scores: np.ndarray, iou: float, max_faces: int
) -> list[Detection]:
    keep = nms(boxes, scores, iou)[:max_faces]
    return [
        Detection(
            box=(float(boxes[i, 0]), float(boxes[i, 1]), float(boxes[i, 2]), float(boxes[i, 3])),
            landmarks=np.asarray(landmarks[i], dtype=np.float32).reshape(5, 2),
            score=float(scores[i]),
        )
        for i in keep
    ]


def check_frame(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 BGR frame, got shape {image.shape} dtype {image.dtype}")
