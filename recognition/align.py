"""5-point similarity alignment to the ArcFace 112×112 template (pure geometry + one warp).

The template is InsightFace's ``arcface_dst``. The transform is the least-squares
similarity (rotation, uniform scale, translation; no reflection) from Umeyama
(1991), solved in closed form so it needs no iterative solver or scikit-image.
"""

from __future__ import annotations

import cv2
import numpy as np

from anju.errors import AnjuError
from recognition.types import AlignedFace, Detection

ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],  # left eye (image left)
        [73.5318, 51.5014],  # right eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # left mouth corner
        [70.7299, 92.2041],  # right mouth corner
    ],
    dtype=np.float64,
)
ALIGNED_SIZE = 112


class AlignmentError(AnjuError):
    """The landmarks do not define a transform (e.g. all points coincide)."""


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2×3 matrix M minimising Σ‖M·[src;1] − dst‖² over similarity transforms (no reflection)."""
    s = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if s.shape != d.shape or s.shape[0] < 2:
        raise AlignmentError(f"need matching point sets of at least 2 points, got {s.shape} and {d.shape}")
    if not (np.isfinite(s).all() and np.isfinite(d).all()):
        raise AlignmentError("landmarks contain NaN or infinity")
    mu_s, mu_d = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - mu_s, d - mu_d
    var_s = float((sc**2).sum() / len(s))
    if var_s < 1e-12:
        raise AlignmentError("landmarks coincide: no transform is defined")
    cov = dc.T @ sc / len(s)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1.0  # keep a rotation, never a reflection
    rot = u @ fix @ vt
    scale = float(np.trace(np.diag(sig) @ fix) / var_s)
    m = np.empty((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def apply_transform(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out: np.ndarray = p @ m[:, :2].T + m[:, 2]
    return out


def invert_transform(m: np.ndarray) -> np.ndarray:
    inv: np.ndarray = np.asarray(cv2.invertAffineTransform(m), dtype=np.float64)
    return inv


def align_transform(landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """Image → template transform for five landmarks (template scaled to ``size``)."""
    return similarity_transform(landmarks, ARCFACE_TEMPLATE * (size / ALIGNED_SIZE))


def warp(image: np.ndarray, m: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    out: np.ndarray = cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return out


def align(image: np.ndarray, det: Detection, size: int = ALIGNED_SIZE) -> AlignedFace:
    """Warp the face of ``det`` to the ArcFace template."""
    m = align_transform(det.landmarks, size)
    return AlignedFace(image=warp(image, m, size), detection=det, transform=m.astype(np.float32))
