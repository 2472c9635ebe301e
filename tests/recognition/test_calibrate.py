"""`anju recognition calibrate`: measured thresholds land in the model cache and the pipeline prefers them.

Runs the real default pack on a small LFW subset in a private model cache (symlinks to the
installed pack), so the user cache's thresholds, which other tests rely on, are never touched.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest

from anju.cli import main as anju_main
from models.calibration import Calibration, calibration_path, load_calibration, save_calibration
from models.errors import ModelError
from models.registry import EmbedderParams, get_pack, model_id
from recognition.config import RecognitionConfig
from recognition.pipeline import FacePipeline, _thresholds

FACEPLUGIN_ID = model_id("faceplugin", get_pack("faceplugin").file("embedder"))


@pytest.fixture()
def private_cache(model_dir: Path, tmp_path: Path) -> Path:
    """A model cache of its own holding the installed default pack (by symlink)."""
    d = tmp_path / "models"
    (d / "faceplugin").mkdir(parents=True)
    for f in (model_dir / "faceplugin").glob("*.onnx"):
        (d / "faceplugin" / f.name).symlink_to(f)
    return d


def _subset(lfw: Path, root: Path, multi: int, single: int) -> None:
    """`multi` persons with 3 images and `single` persons with 1 image, linked from LFW."""
    n_multi = n_single = 0
    for d in sorted(lfw.iterdir()):
        if not d.is_dir():
            continue
        imgs = sorted(d.glob("*.jpg"))
        if len(imgs) >= 3 and n_multi < multi:
            take, n_multi = imgs[:3], n_multi + 1
        elif len(imgs) == 1 and n_single < single:
            take, n_single = imgs, n_single + 1
        else:
            continue
        (root / d.name).mkdir(parents=True)
        for f in take:
            (root / d.name / f.name).symlink_to(f)
        if n_multi == multi and n_single == single:
            return


def _cal(**kw: object) -> Calibration:
    fields: dict[str, object] = {
        "pack": "faceplugin",
        "model_id": FACEPLUGIN_ID,
        "detector": "rfb320",
        "match_threshold": 0.2,
        "far": 1e-3,
        "tar_at_far": 0.99,
        "genuine_pairs": 10,
        "impostor_pairs": 100,
        "open_set_threshold": 0.45,
        "dataset": "/data",
        "images": 20,
        "failed_images": 0,
        "measured_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
    }
    fields.update(kw)
    return Calibration.model_validate(fields)


@pytest.mark.slow
def test_calibrate_on_lfw_subset_and_pipeline_prefers_it(
    private_cache: Path, testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "faces"
    _subset(testdata / "lfw", root, multi=10, single=6)
    before = FacePipeline.from_config(RecognitionConfig(), private_cache)
    assert before.threshold_source == "manifest"
    assert (before.match_threshold, before.open_set_threshold) == (0.31, 0.474)

    rc = anju_main(["recognition", "calibrate", "--pack", "faceplugin", "--root", str(root), "--gallery", "5",
                    "--workers", "1", "--model-dir", str(private_cache), "--json"])  # fmt: skip
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    path = calibration_path("faceplugin", private_cache)
    assert doc["written_to"] == str(path) and path.is_file()
    cal = load_calibration("faceplugin", private_cache)
    assert cal is not None and cal.model_id == FACEPLUGIN_ID and cal.detector == "rfb320"
    # 10 persons × 3 same-person pairs; different-person pairs: all C(36, 2) − 30 of the 36 images
    assert (cal.genuine_pairs, cal.impostor_pairs, cal.images, cal.failed_images) == (30, 600, 36, 0)
    assert cal.gallery == 5 and cal.mated_probes == 10 and cal.non_mated_probes == 21
    # LFW faces of different persons score far below the same person's: both thresholds sit between
    assert -0.2 < cal.match_threshold < 0.6 and cal.open_set_threshold is not None
    assert cal.tar_at_far == 1.0 and cal.fnir_at_fpir == 0.0
    assert any("impostor pairs" in w for w in cal.warnings)
    assert any("non-mated probes" in w for w in cal.warnings)

    after = FacePipeline.from_config(RecognitionConfig(), private_cache)
    assert after.threshold_source == "calibration"
    assert after.match_threshold == cal.match_threshold
    assert after.open_set_threshold == cal.open_set_threshold
    # a config override still wins
    forced = FacePipeline.from_config(RecognitionConfig(match_threshold=0.5), private_cache)
    assert (forced.match_threshold, forced.threshold_source) == (0.5, "config")


@pytest.mark.slow
def test_calibrate_with_lfw_pairs_file_dry_run(
    private_cache: Path, testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lfw = testdata / "lfw"
    root = tmp_path / "faces"
    _subset(lfw, root, multi=3, single=0)
    a, b, c = sorted(p.name for p in root.iterdir())
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"1 2\n{a} 1 2\n{b} 1 3\n{a} 1 {b} 1\n{b} 2 {c} 1\n")
    rc = anju_main(["recognition", "calibrate", "--root", str(root), "--pairs", str(pairs), "--gallery", "0",
                    "--dry-run", "--workers", "1", "--model-dir", str(private_cache), "--json"])  # fmt: skip
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["written_to"] is None and not calibration_path("faceplugin", private_cache).exists()
    assert (doc["genuine_pairs"], doc["impostor_pairs"], doc["gallery"]) == (2, 2, 0)
    assert doc["open_set_threshold"] is None


def test_calibrate_bad_arguments(private_cache: Path, tmp_path: Path) -> None:
    assert anju_main(["recognition", "calibrate", "--root", str(tmp_path / "nope"),
                      "--model-dir", str(private_cache)]) == 2  # fmt: skip
    assert anju_main(["recognition", "calibrate", "--root", str(tmp_path), "--far", "2",
                      "--model-dir", str(private_cache)]) == 2  # fmt: skip


def test_calibration_of_another_model_is_ignored(
    private_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    params = get_pack("faceplugin").file("embedder").embedder
    assert params is not None
    save_calibration(_cal(model_id="faceplugin/fr_feature.onnx@000000000000"), private_cache)
    with caplog.at_level(logging.WARNING):
        got = _thresholds(RecognitionConfig(), params, FACEPLUGIN_ID, private_cache)
    assert got == (0.31, 0.474, "manifest")
    assert "not with the installed embedder" in caplog.text


def test_calibration_with_another_detector_is_used_with_a_warning(
    private_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    params = get_pack("faceplugin").file("embedder").embedder
    assert params is not None
    save_calibration(_cal(detector="yunet"), private_cache)
    with caplog.at_level(logging.WARNING):
        got = _thresholds(RecognitionConfig(), params, FACEPLUGIN_ID, private_cache)
    assert got == (0.2, 0.45, "calibration")
    assert "calibrated with detector yunet" in caplog.text


def test_unmeasured_pack_without_calibration_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("buffalo_l", "buffalo_s", "buffalo_sc", "opencv_zoo"):
        p = get_pack(name).file("embedder").embedder
        assert p is not None and not p.thresholds_measured, name
    params = get_pack("buffalo_l").file("embedder").embedder
    assert params is not None
    cfg = RecognitionConfig(pack="buffalo_l", detector="scrfd")
    with caplog.at_level(logging.WARNING):
        got = _thresholds(cfg, params, "buffalo_l/w600k_r50.onnx@4c06341c33c2", tmp_path)
    assert got == (0.3, 0.3, "manifest-unmeasured")
    assert "UNMEASURED" in caplog.text
    assert "anju recognition calibrate --pack buffalo_l --detector scrfd --root DIR" in caplog.text
    measured = EmbedderParams(color="bgr", mean=0, std=1, match_threshold=0.3, threshold_note="x",
                              thresholds_measured=True)  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert _thresholds(cfg, measured, "x", tmp_path)[2] == "manifest"
    assert caplog.text == ""


def test_broken_calibration_file_names_the_file(private_cache: Path) -> None:
    path = calibration_path("faceplugin", private_cache)
    path.write_text('{"pack": "faceplugin"}')
    with pytest.raises(ModelError, match=str(path)):
        load_calibration("faceplugin", private_cache)


def test_models_list_flags_unmeasured_packs_and_shows_calibrations(
    private_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_calibration(_cal(), private_cache)
    assert anju_main(["models", "list", "--model-dir", str(private_cache)]) == 0
    text = capsys.readouterr().out
    assert "calibrated here 2026-01-01 (match 0.2, open-set 0.45, detector rfb320)" in text
    assert "UNMEASURED placeholder (match 0.3); run `anju recognition calibrate --pack buffalo_l" in text
    assert anju_main(["models", "list", "--model-dir", str(private_cache), "--json"]) == 0
    packs = {p["pack"]: p for p in json.loads(capsys.readouterr().out)["packs"]}
    assert packs["faceplugin"]["thresholds"]["calibration"]["match_threshold"] == 0.2
    assert packs["opencv_zoo"]["thresholds"]["measured"] is False
    assert packs["scrfd_500m"]["thresholds"] is None
