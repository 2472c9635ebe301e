"""Face quality from what the pipeline already has: landmarks, the aligned face and the detector score.

Components (each mapped to 0..1, the score is their geometric mean):
- size: pixels between the eye centres (inter-ocular distance);
- sharpness: variance of the Laplacian of the aligned 112×112 gray face;
- pose: yaw and pitch estimated from the five landmarks (approximate, ±10°: the nose's offset
  from the eye midpoint for yaw, the nose's height between eyes and mouth for pitch);
- the detector's score.
Reasons for rejection are stable codes: ``too_small``, ``blurry``, ``yaw``, ``pitch``,
``low_detector_score``, ``cut_off`` (landmarks outside the frame).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from recognition.config import RecognitionConfig
from recognition.types import Detection, Quality

# In the ArcFace template the nose sits at 0.494 of the way from the eye line to the mouth line.
_FRONTAL_NOSE_RATIO = (71.7366 - 51.5989) / (92.2848 - 51.5989)


def pose_from_landmarks(lm: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees from five landmarks; 0, 0 for a frontal face."""
    le, re, nose, lm_, rm = (np.asarray(p, np.float64) for p in lm)
    eye_vec = re - le
    iod = float(np.linalg.norm(eye_vec))
    if iod < 1e-6:
        return 90.0, 90.0
    ux = eye_vec / iod
    uy = np.array([-ux[1], ux[0]])  # image "down" in the face's frame
    eye_mid = (le + re) / 2
    mouth_mid = (lm_ + rm) / 2
    dx = float(np.dot(nose - eye_mid, ux)) / iod
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * dx))))
    em = float(np.dot(mouth_mid - eye_mid, uy))
    if em <= 1e-6:
        return yaw, 90.0
    ratio = float(np.dot(nose - eye_mid, uy)) / em
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, (ratio - _FRONTAL_NOSE_RATIO) * 2.5))))
    return yaw, pitch


def sharpness(aligned: np.ndarray) -> float:
    gray = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY)
    # Central part only: the warp's black borders would count as edges.
    return float(cv2.Laplacian(gray[16:96, 16:96], cv2.CV_64F).var())


def assess(
    det: Detection, aligned: np.ndarray, frame_shape: tuple[int, ...], cfg: RecognitionConfig
) -> Quality:
    lm = np.asarray(det.landmarks, np.float64)
    iod = float(np.linalg.norm(lm[1] - lm[0]))
    blur = sharpness(aligned)
    yaw, pitch = pose_from_landmarks(lm)
    h, w = frame_shape[:2]
    reasons = []
    if iod < cfg.min_inter_ocular_px:
        reasons.append("too_small")
    if blur < cfg.min_blur:
        reasons.append("blurry")
    if abs(yaw) > cfg.max_yaw_deg:
        reasons.append("yaw")
    if abs(pitch) > cfg.max_pitch_deg:
        reasons.append("pitch")
    if det.score < cfg.min_detector_score_quality:
        reasons.append("low_detector_score")
    if (lm[:, 0] < 0).any() or (lm[:, 1] < 0).any() or (lm[:, 0] >= w).any() or (lm[:, 1] >= h).any():
        reasons.append("cut_off")
    parts = [
        min(1.0, iod / (2.0 * max(cfg.min_inter_ocular_px, 1.0))),
        min(1.0, blur / (4.0 * max(cfg.min_blur, 1.0))),
        max(0.0, 1.0 - abs(yaw) / (2.0 * cfg.max_yaw_deg))
        * max(0.0, 1.0 - abs(pitch) / (2.0 * cfg.max_pitch_deg)),
        max(0.0, min(1.0, det.score)),
    ]
    score = float(np.prod(np.maximum(parts, 1e-6)) ** (1.0 / len(parts)))
    return Quality(
        score=score,
        inter_ocular_px=iod,
        blur=blur,
        yaw_deg=yaw,
        pitch_deg=pitch,
        detector_score=det.score,
        reasons=tuple(reasons),
    )
