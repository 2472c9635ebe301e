"""Passive liveness (faceplugin ``fr_liveness.onnx``): one RGB 128×128 crop → live score.

The crop is the square detection box scaled ×2.7 around its centre (the model sees
the face with its surroundings: screen borders, paper edges), kept inside the frame;
raw 0..255 RGB values; softmax over 3 classes, class 0 = live.
Not evaluated on presentation-attack data (none is available here).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from recognition.types import Detection, Liveness

CROP_SCALE = 2.7
SIZE = 128


def liveness_crop(
    image: np.ndarray, det: Detection, scale: float = CROP_SCALE, size: int = SIZE
) -> np.ndarray:
    """The model's input crop: the box made square (side = box height), scaled ×2.7 but never beyond the
    frame, and shifted to lie inside it (the package's JavaScript and Silent-Face's CropImage do this)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = det.box
    bh = max(y2 - y1, 1.0)
    bw = bh
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    s = min((h - 1) / bh, (w - 1) / bw, scale)
    nw, nh = bw * s, bh * s
    lx, ly, rx, ry = cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2
    if lx < 0:
        rx, lx = rx - lx, 0.0
    if ly < 0:
        ry, ly = ry - ly, 0.0
    if rx > w - 1:
        lx, rx = lx - (rx - w + 1), float(w - 1)
    if ry > h - 1:
        ly, ry = ly - (ry - h + 1), float(h - 1)
    ix1, iy1 = max(int(lx), 0), max(int(ly), 0)
    ix2, iy2 = min(int(rx) + 1, w), min(int(ry) + 1, h)
    crop = image[iy1:iy2, ix1:ix2]
    if crop.size == 0:
        crop = image
    out: np.ndarray = cv2.resize(crop, (size, size))
    return out


class LivenessModel:
    def __init__(self, session: Any, threshold: float) -> None:
        self._s = session
        self._input = session.get_inputs()[0].name
        self.threshold = threshold

    def score(self, image: np.ndarray, det: Detection) -> Liveness:
        crop = cv2.cvtColor(liveness_crop(image, det), cv2.COLOR_BGR2RGB).astype(np.float32)
        logits = self._s.run(None, {self._input: crop.transpose(2, 0, 1)[None]})[0].reshape(-1)
        e = np.exp(logits - logits.max())
        p = e / e.sum()
        return Liveness(score=float(p[0]), threshold=self.threshold)
