"""Detectors on real images with real models; SCRFD and YuNet decoding checked against reference code."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.store import resolve
from recognition.config import RecognitionConfig
from recognition.detect_common import nms
from recognition.detectors import build_detector
from recognition.imageio import load_image
from recognition.types import Detection

DETECTORS = ["yunet", "rfb320", "scrfd"]


def _cfg(name: str, **kw: object) -> RecognitionConfig:
    return RecognitionConfig(detector=name, detector_pack="scrfd_500m" if name == "scrfd" else None, **kw)  # type: ignore[arg-type]


def _plausible(d: Detection) -> None:
    le, re, nose, lm, rm = d.landmarks
    assert le[0] < nose[0] < re[0], "eyes in image order around the nose"
    assert lm[0] < rm[0]
    assert max(le[1], re[1]) < nose[1] < min(lm[1], rm[1]), "eyes above nose above mouth"
    x1, y1, x2, y2 = d.box
    assert x1 <= nose[0] <= x2 and y1 <= nose[1] <= y2


@pytest.mark.parametrize("name", DETECTORS)
def test_single_portrait(name: str, model_dir: Path, testdata: Path) -> None:
    img = load_image(testdata / "examples" / "obama.jpg")
    dets = build_detector(_cfg(name), model_dir).detect(img)
    assert len(dets) == 1
    _plausible(dets[0])
    assert 0.6 <= dets[0].score <= 1.0


@pytest.mark.parametrize("name", DETECTORS)
def test_group_photo_and_resolutions(name: str, model_dir: Path, testdata: Path) -> None:
    det = build_detector(_cfg(name), model_dir)
    assert len(det.detect(load_image(testdata / "images" / "t1.jpg"))) == 6
    assert len(det.detect(load_image(testdata / "examples" / "two_people.jpg"))) == 2
    for res in ("240p", "480p", "720p", "1080p"):
        dets = det.detect(load_image(testdata / "examples" / f"obama-{res}.jpg"))
        assert len(dets) == 1, res
        _plausible(dets[0])


def test_detectors_agree_on_landmarks(model_dir: Path, testdata: Path) -> None:
    img = load_image(testdata / "examples" / "biden.jpg")
    pts = [build_detector(_cfg(n), model_dir).detect(img)[0].landmarks for n in DETECTORS]
    iod = float(np.linalg.norm(pts[0][1] - pts[0][0]))
    for other in pts[1:]:
        assert np.abs(other[:2] - pts[0][:2]).max() < 0.15 * iod  # eye centres


@pytest.mark.parametrize("name", DETECTORS)
def test_no_face(name: str, model_dir: Path) -> None:
    det = build_detector(_cfg(name), model_dir)
    assert det.detect(np.full((480, 640, 3), 127, np.uint8)) == []
    grad = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 1, 3))
    assert det.detect(grad) == []


def test_scrfd_matches_insightface(model_dir: Path, testdata: Path) -> None:
    from insightface.model_zoo.scrfd import SCRFD

    path = resolve("scrfd_500m", "detector_scrfd", model_dir)
    ref = SCRFD(model_file=str(path))
    ref.prepare(-1, input_size=(640, 640), det_thresh=0.5)
    img = load_image(testdata / "images" / "t1.jpg")
    boxes, kps = ref.detect(img, input_size=(640, 640), max_num=0)
    ours = build_detector(_cfg("scrfd", detection_score=0.5), model_dir).detect(img)
    assert len(ours) == len(boxes)
    ref_sorted = sorted(zip(boxes.tolist(), kps.tolist(), strict=True), key=lambda t: -t[0][4])
    for d, (b, k) in zip(ours, ref_sorted, strict=True):
        np.testing.assert_allclose(d.box, b[:4], atol=1.0)
        np.testing.assert_allclose(d.landmarks, np.array(k), atol=1.0)
        assert d.score == pytest.approx(b[4], abs=1e-4)


def test_yunet_matches_opencv(model_dir: Path, testdata: Path) -> None:
    path = resolve("faceplugin", "detector_yunet", model_dir)
    img = load_image(testdata / "examples" / "two_people.jpg")
    ours = build_detector(_cfg("yunet", detector_max_side=4096), model_dir).detect(img)
    ref = cv2.FaceDetectorYN.create(str(path), "", (img.shape[1], img.shape[0]), 0.6, 0.4, 100)
    _, faces = ref.detect(img)
    assert faces is not None and len(faces) == len(ours) == 2
    faces = sorted(faces.tolist(), key=lambda f: -f[14])
    for d, f in zip(ours, faces, strict=True):
        np.testing.assert_allclose(d.box, [f[0], f[1], f[0] + f[2], f[1] + f[3]], atol=2.0)
        np.testing.assert_allclose(d.landmarks, np.array(f[4:14]).reshape(5, 2), atol=2.0)


def test_nms() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.4) == [0, 2]
    assert nms(boxes, np.array([0.5, 0.8, 0.7]), 0.4) == [1, 2]
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), 0.99) == [0, 1, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.4) == []
