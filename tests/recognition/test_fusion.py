"""Embedding fusion (RecognitionConfig.fusion) with the real default pack on real images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from anju.cli import main as anju_main
from recognition.config import PROFILES, RecognitionConfig
from recognition.evalrun import pick_central
from recognition.fusion import box_iou, match_face, parse_source
from recognition.imageio import load_image
from recognition.pipeline import FacePipeline
from recognition.types import Detection, Frame

ACCURATE = list(PROFILES["accurate"])


def _det(x1: float, y1: float, x2: float, y2: float) -> Detection:
    return Detection(box=(x1, y1, x2, y2), landmarks=np.zeros((5, 2), np.float32), score=0.9)


def _unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = v / np.linalg.norm(v)
    return out


def test_config_refuses_bad_fusion_sources() -> None:
    assert RecognitionConfig().fusion == []
    assert RecognitionConfig(fusion=ACCURATE).fusion == ACCURATE
    with pytest.raises(ValidationError, match="twice"):
        RecognitionConfig(fusion=["yunet", "yunet"])
    with pytest.raises(ValidationError, match="primary detector"):
        RecognitionConfig(fusion=["rfb320"])
    with pytest.raises(ValidationError):
        RecognitionConfig(fusion=["sideways"])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        RecognitionConfig(fusion_min_iou=0.0)


def test_parse_source_and_iou_matching() -> None:
    v = parse_source("flip")
    assert (v.detector, v.landmarks68, v.flip) == (None, False, True)
    v = parse_source("yunet+68:flip")
    assert (v.detector, v.landmarks68, v.flip) == ("yunet", True, True)
    v = parse_source("scrfd")
    assert (v.detector, v.landmarks68, v.flip) == ("scrfd", False, False)
    a = _det(0, 0, 10, 10)
    assert box_iou(a.box, a.box) == pytest.approx(1.0)
    assert box_iou(a.box, (5, 0, 15, 10)) == pytest.approx(50 / 150)
    near, far = _det(1, 1, 11, 11), _det(50, 50, 60, 60)
    assert match_face(a, [far, near], 0.3) is near
    assert match_face(a, [far], 0.3) is None


@pytest.fixture(scope="module")
def plain(model_dir: Path) -> FacePipeline:
    return FacePipeline.from_config(RecognitionConfig(), model_dir)


@pytest.fixture(scope="module")
def accurate(model_dir: Path) -> FacePipeline:
    return FacePipeline.from_config(RecognitionConfig(fusion=ACCURATE), model_dir)


def _frame(path: Path) -> Frame:
    return Frame(image=load_image(path), source_id=path.name)


def test_fused_template_is_the_normalised_mean_of_the_views(
    plain: FacePipeline, accurate: FacePipeline, model_dir: Path, testdata: Path
) -> None:
    frame = _frame(testdata / "examples" / "obama.jpg")
    [single] = plain.analyze(frame)
    [fused] = accurate.analyze(frame)
    assert single.embedding is not None and fused.embedding is not None
    # same embedding space: same model id, same primary detection
    assert fused.embedding.model_id == single.embedding.model_id == plain.model_id
    assert np.allclose(fused.detection.landmarks, single.detection.landmarks)
    assert np.linalg.norm(fused.embedding.vector) == pytest.approx(1.0, abs=1e-5)
    # rebuild the views independently: YuNet's own face (at the fusion score) and the mirrored faces
    yunet = FacePipeline.from_config(RecognitionConfig(detector="yunet", detection_score=0.3), model_dir)
    ydet = match_face(single.detection, yunet.detect(frame), 0.3)
    assert ydet is not None
    yface = yunet.align(frame, ydet).image
    assert single.aligned is not None
    views = [single.aligned.image, yface, single.aligned.image[:, ::-1], yface[:, ::-1]]
    vecs = plain.embedder.vectors(views)
    expect = _unit(vecs.sum(axis=0))
    assert np.allclose(fused.embedding.vector, expect, atol=1e-5)
    assert float(fused.embedding.vector @ single.embedding.vector) > 0.9
    assert accurate.fusion is not None and accurate.fusion.stats.faces_missing_views == 0


def test_fused_templates_still_separate_people(accurate: FacePipeline, testdata: Path) -> None:
    ex = testdata / "examples"

    def emb(name: str) -> np.ndarray:
        res = accurate.analyze(_frame(ex / name))
        main = max(res, key=lambda r: r.detection.width * r.detection.height)
        assert main.embedding is not None
        return main.embedding.vector

    obama, obama2, biden = emb("obama.jpg"), emb("obama2.jpg"), emb("biden.jpg")
    t = accurate.match_threshold
    assert float(obama @ obama2) > t + 0.2
    assert float(obama @ biden) < t - 0.2
    # two faces in one frame: each fused template belongs to its own face
    frame = _frame(ex / "two_people.jpg")
    fused = accurate.analyze(frame)
    assert len(fused) == 2
    for r in fused:
        assert r.aligned is not None and r.embedding is not None
        own = accurate.embed([r.aligned])[0].vector
        others = [accurate.embed([o.aligned])[0].vector for o in fused if o is not r and o.aligned]
        assert float(r.embedding.vector @ own) > max(float(r.embedding.vector @ o) for o in others) + 0.3


def test_face_missed_by_the_second_detector_falls_back(
    plain: FacePipeline, model_dir: Path, testdata: Path
) -> None:
    # an IoU of 1.0 is never reached by two different detectors: every face "misses" YuNet
    cfg = RecognitionConfig(fusion=["yunet", "flip"], fusion_min_iou=1.0)
    pipe = FacePipeline.from_config(cfg, model_dir)
    frame = _frame(testdata / "examples" / "obama.jpg")
    [r] = pipe.analyze(frame)
    [s] = plain.analyze(frame)
    assert r.embedding is not None and s.aligned is not None
    vecs = plain.embedder.vectors([s.aligned.image, s.aligned.image[:, ::-1]])
    assert np.allclose(r.embedding.vector, _unit(vecs.sum(axis=0)), atol=1e-5)
    assert pipe.fusion is not None
    assert pipe.fusion.stats.faces == 1
    assert pipe.fusion.stats.faces_missing_views == 1
    assert pipe.fusion.stats.missed == {"yunet": 1}


def test_landmark_source_on_the_second_detectors_box(model_dir: Path, testdata: Path) -> None:
    pipe = FacePipeline.from_config(RecognitionConfig(fusion=["yunet+68"]), model_dir)
    img = load_image(testdata / "examples" / "obama.jpg")
    det = pick_central(pipe.detect(Frame(image=img)), img.shape)
    assert det is not None
    [e] = pipe.embed_frame(Frame(image=img), [det], [pipe.align(Frame(image=img), det)])
    assert np.linalg.norm(e.vector) == pytest.approx(1.0, abs=1e-5)
    assert pipe.fusion is not None and pipe.fusion.stats.faces_missing_views == 0


def test_eval_lfw_with_the_accurate_profile(
    model_dir: Path, testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lfw = testdata / "lfw"
    people = [d.name for d in sorted(lfw.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= 3][:3]
    a, b, c = people
    # 2 folds × (2 matched + 2 mismatched), as test_evals
    lines = ["2 2", f"{a} 1 2", f"{b} 1 2", f"{a} 1 {b} 1", f"{b} 2 {c} 1",
             f"{c} 1 2", f"{a} 2 3", f"{a} 3 {c} 2", f"{b} 3 {c} 3"]  # fmt: skip
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(lines) + "\n")
    rc = anju_main(["recognition", "eval", "lfw", "--root", str(lfw), "--pairs", str(pairs), "--json",
                    "--workers", "1", "--model-dir", str(model_dir), "--profile", "accurate"])  # fmt: skip
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fusion"] == ACCURATE and doc["embeddings_per_face"] == 1 + len(ACCURATE)
    assert doc["pairs"] == 8 and doc["failed_images"] == 0 and doc["fusion_faces_missing_views"] == 0
    assert doc["accuracy_mean"] == 1.0
    rc = anju_main(["recognition", "eval", "lfw", "--root", str(lfw), "--pairs", str(pairs),
                    "--model-dir", str(model_dir), "--fusion", "yunet,sideways"])  # fmt: skip
    assert rc == 2


def test_calibrate_refuses_to_store_fused_thresholds(model_dir: Path, testdata: Path, tmp_path: Path) -> None:
    # the calibration file has no fusion field: fused figures must not replace the single-embedding ones
    rc = anju_main(["recognition", "calibrate", "--root", str(testdata / "lfw"), "--model-dir", str(tmp_path),
                    "--profile", "accurate", "--gallery", "0"])  # fmt: skip
    assert rc == 2
    assert not any(tmp_path.rglob("calibration.json"))
