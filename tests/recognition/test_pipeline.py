"""FacePipeline end to end with the default pack: embeddings, thresholds, quality, liveness, bad models."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.errors import ModelError
from models.registry import get_pack
from recognition.config import RecognitionConfig
from recognition.embedder import EmbeddingModelMismatch, cosine
from recognition.imageio import load_image
from recognition.pipeline import FacePipeline
from recognition.quality import pose_from_landmarks
from recognition.types import Embedding, Frame


@pytest.fixture(scope="module")
def pipe(model_dir: Path) -> FacePipeline:
    return FacePipeline.from_config(RecognitionConfig(), model_dir)


def _frame(path: Path) -> Frame:
    return Frame(image=load_image(path), source_id=path.name)


def _one(pipe: FacePipeline, path: Path, *, single: bool = True) -> Embedding:
    res = pipe.analyze(_frame(path))
    assert res and (len(res) == 1 or not single)
    main = max(res, key=lambda r: r.detection.width * r.detection.height)
    assert main.embedding is not None
    return main.embedding


def test_same_person_matches_and_others_do_not(pipe: FacePipeline, testdata: Path) -> None:
    ex = testdata / "examples"
    knn = ex / "knn_examples" / "train"
    obama = _one(pipe, ex / "obama.jpg")
    obama2 = _one(pipe, ex / "obama2.jpg")
    biden = _one(pipe, ex / "biden.jpg")
    assert np.linalg.norm(obama.vector) == pytest.approx(1.0, abs=1e-5)
    assert obama.vector.dtype == np.float32 and obama.vector.shape == (512,)
    assert obama.model_id == pipe.model_id == "faceplugin/fr_feature.onnx@87aacdfe5751"
    t = pipe.match_threshold
    assert cosine(obama, obama2) > t + 0.2
    assert cosine(obama, biden) < t - 0.2
    # the knn examples: every train image of a person is closer to its own kind than to others
    people = sorted(p.name for p in knn.iterdir() if p.is_dir() and len(list(p.iterdir())) >= 2)
    embs = {p: [_one(pipe, f, single=False) for f in sorted((knn / p).iterdir())[:2]] for p in people}
    for p in people:
        same = cosine(embs[p][0], embs[p][1])
        for q in people:
            if q != p:
                assert same > cosine(embs[p][0], embs[q][0])


def test_batch_equals_single_and_flip_fusion(model_dir: Path, pipe: FacePipeline, testdata: Path) -> None:
    frames = [_frame(testdata / "examples" / n) for n in ("obama.jpg", "biden.jpg", "two_people.jpg")]
    faces = [pipe.align(f, d) for f in frames for d in pipe.detect(f)]
    assert len(faces) == 4
    batch = pipe.embed(faces)
    single = [pipe.embed([f])[0] for f in faces]
    for a, b in zip(batch, single, strict=True):
        np.testing.assert_allclose(a.vector, b.vector, atol=1e-5)
    flip = FacePipeline.from_config(RecognitionConfig(flip_fusion=True), model_dir)
    fused = flip.embed(faces)
    for a, b in zip(fused, batch, strict=True):
        assert np.linalg.norm(a.vector) == pytest.approx(1.0, abs=1e-5)
        assert 0.8 < float(a.vector @ b.vector) < 0.99999


def test_templates_of_different_models_are_not_compared() -> None:
    a = Embedding(vector=np.ones(4, np.float32) / 2, model_id="faceplugin/fr_feature.onnx@87aacdfe5751")
    b = Embedding(vector=np.ones(4, np.float32) / 2, model_id="buffalo_l/w600k_r50.onnx@4c06341c33c2")
    with pytest.raises(EmbeddingModelMismatch):
        cosine(a, b)


def test_quality_reasons(pipe: FacePipeline, testdata: Path) -> None:
    frame = _frame(testdata / "examples" / "obama.jpg")
    res = pipe.analyze(frame, embed=False)
    assert res[0].quality.acceptable and res[0].quality.score > 0.8 and res[0].embedding is None
    small = cv2.resize(frame.image, None, fx=0.1, fy=0.1, interpolation=cv2.INTER_AREA)
    small = cv2.copyMakeBorder(small, 100, 100, 100, 100, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    sres = pipe.analyze(Frame(image=small), embed=False)
    assert sres and "too_small" in sres[0].quality.reasons
    blurred = cv2.GaussianBlur(frame.image, (0, 0), 12)
    bres = pipe.analyze(Frame(image=blurred), embed=False)
    assert bres and "blurry" in bres[0].quality.reasons
    assert bres[0].quality.score < res[0].quality.score


def test_pose_from_landmarks() -> None:
    from recognition.align import ARCFACE_TEMPLATE

    yaw, pitch = pose_from_landmarks(ARCFACE_TEMPLATE)
    assert abs(yaw) < 2 and abs(pitch) < 2
    turned = ARCFACE_TEMPLATE.copy()
    turned[2, 0] += 25  # nose far to the right of the eye midpoint: a strong head turn
    assert pose_from_landmarks(turned)[0] > 40
    up = ARCFACE_TEMPLATE.copy()
    up[2, 1] -= 12  # nose close to the eye line
    assert abs(pose_from_landmarks(up)[1]) > 30


def test_liveness_on_real_portraits(pipe: FacePipeline, testdata: Path) -> None:
    for name in ("obama.jpg", "biden.jpg", "obama-480p.jpg"):
        frame = _frame(testdata / "examples" / name)
        res = pipe.analyze(frame, embed=False, liveness=True)
        assert res[0].liveness is not None
        assert 0.0 <= res[0].liveness.score <= 1.0
        assert res[0].liveness.live, name


def test_no_face_gives_empty_result(pipe: FacePipeline) -> None:
    assert pipe.analyze(Frame(image=np.full((360, 640, 3), 30, np.uint8))) == []


def test_corrupt_model_file_is_refused(model_dir: Path, tmp_path: Path) -> None:
    pack_dir = tmp_path / "faceplugin"
    shutil.copytree(model_dir / "faceplugin", pack_dir)
    emb = pack_dir / get_pack("faceplugin").file("embedder").filename
    data = emb.read_bytes()
    emb.write_bytes(data[:1000])
    with pytest.raises(ModelError, match=r"fr_feature.onnx.*truncated"):
        FacePipeline.from_config(RecognitionConfig(), tmp_path)
    emb.write_bytes(data[:-4] + b"\x00\x00\x00\x00")
    with pytest.raises(ModelError, match=r"fr_feature.onnx.*wrong checksum"):
        FacePipeline.from_config(RecognitionConfig(), tmp_path)
    emb.unlink()
    with pytest.raises(ModelError, match=r"not installed; run `anju models fetch --pack faceplugin`"):
        FacePipeline.from_config(RecognitionConfig(), tmp_path)


def test_runtime_refuses_a_broken_onnx_file(tmp_path: Path) -> None:
    from recognition.runtime import make_session

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match=r"bad\.onnx: ONNX Runtime cannot load"):
        make_session(bad)


def test_flushing_denormal_weights_keeps_outputs(model_dir: Path) -> None:
    import onnxruntime as ort

    from models.store import resolve
    from recognition.runtime import flush_denormals

    data = resolve("faceplugin", "embedder", model_dir).read_bytes()
    clean, n = flush_denormals(data)
    assert n > 1000
    x = np.random.default_rng(3).uniform(-1, 1, (1, 3, 112, 112)).astype(np.float32)
    a = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    b = ort.InferenceSession(clean, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert flush_denormals(clean)[1] == 0
