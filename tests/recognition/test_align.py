"""Alignment against known similarity transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recognition.align import (
    ARCFACE_TEMPLATE,
    AlignmentError,
    align,
    apply_transform,
    invert_transform,
    similarity_transform,
)
from recognition.types import Detection


def _sim(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array(
        [[scale * math.cos(a), -scale * math.sin(a), tx], [scale * math.sin(a), scale * math.cos(a), ty]]
    )


@pytest.mark.parametrize(
    ("scale", "angle", "tx", "ty"),
    [
        (1.0, 0.0, 0.0, 0.0),
        (0.5, 0.0, -10.0, 3.0),
        (2.3, 17.0, 40.0, -8.0),
        (0.21, -95.0, 5.5, 300.0),
        (1.7, 180.0, 0, 0),
    ],
)
def test_recovers_exact_similarity(scale: float, angle: float, tx: float, ty: float) -> None:
    m_true = _sim(scale, angle, tx, ty)
    src = apply_transform(invert_transform(m_true), ARCFACE_TEMPLATE)  # a face placed by m_true⁻¹
    m = similarity_transform(src, ARCFACE_TEMPLATE)
    np.testing.assert_allclose(m, m_true, atol=1e-9)
    np.testing.assert_allclose(apply_transform(m, src), ARCFACE_TEMPLATE, atol=1e-9)


def test_least_squares_with_noise_is_close_and_not_a_reflection() -> None:
    rng = np.random.default_rng(7)
    m_true = _sim(1.3, 25.0, 12.0, -4.0)
    src = apply_transform(invert_transform(m_true), ARCFACE_TEMPLATE) + rng.normal(0, 0.3, (5, 2))
    m = similarity_transform(src, ARCFACE_TEMPLATE)
    assert np.linalg.det(m[:, :2]) > 0
    np.testing.assert_allclose(m[:, :2], m_true[:, :2], atol=0.03)
    np.testing.assert_allclose(m[:, 2], m_true[:, 2], atol=1.5)  # translation: lever arm ~56 px
    # residuals of least squares are not larger than those of the true transform
    r = np.linalg.norm(apply_transform(m, src) - ARCFACE_TEMPLATE)
    r_true = np.linalg.norm(apply_transform(m_true, src) - ARCFACE_TEMPLATE)
    assert r <= r_true + 1e-12


def test_mirrored_points_give_a_rotation_not_a_reflection() -> None:
    src = ARCFACE_TEMPLATE * np.array([-1.0, 1.0])
    m = similarity_transform(src, ARCFACE_TEMPLATE)
    assert np.linalg.det(m[:, :2]) > 0


def test_degenerate_landmarks_are_refused() -> None:
    with pytest.raises(AlignmentError, match="coincide"):
        similarity_transform(np.ones((5, 2)), ARCFACE_TEMPLATE)
    with pytest.raises(AlignmentError, match="NaN"):
        similarity_transform(np.full((5, 2), np.nan), ARCFACE_TEMPLATE)
    with pytest.raises(AlignmentError, match="matching"):
        similarity_transform(np.ones((4, 2)), ARCFACE_TEMPLATE)


def test_align_warps_marked_points_onto_the_template() -> None:
    # Draw five dots where a face would have its landmarks under a known transform; after
    # alignment each dot must sit at its template position.
    m_true = _sim(2.0, 30.0, 100.0, 60.0)
    pts = apply_transform(m_true, ARCFACE_TEMPLATE)
    img = np.zeros((400, 400, 3), np.uint8)
    for x, y in pts:
        yi, xi = int(y + 0.5), int(x + 0.5)
        img[yi - 2 : yi + 3, xi - 2 : xi + 3] = 255
    det = Detection(box=(0.0, 0.0, 400.0, 400.0), landmarks=pts.astype(np.float32), score=1.0)
    face = align(img, det)
    assert face.image.shape == (112, 112, 3)
    np.testing.assert_allclose(face.transform, invert_transform(m_true), atol=1e-4)
    for tx, ty in ARCFACE_TEMPLATE:
        patch = face.image[int(ty) - 1 : int(ty) + 2, int(tx) - 1 : int(tx) + 2, 0]
        assert patch.max() > 200
