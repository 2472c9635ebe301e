"""`anju recognition eval lfw|openset` end to end on small real subsets of LFW."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from anju.cli import main as anju_main
from recognition.evalrun import pick_central
from recognition.types import Detection


def _det(x1: float, y1: float, x2: float, y2: float) -> Detection:
    return Detection(box=(x1, y1, x2, y2), landmarks=np.zeros((5, 2), np.float32), score=0.9)


def test_pick_central_prefers_the_centred_large_face() -> None:
    big_off = _det(0, 0, 100, 100)
    centred = _det(80, 80, 170, 170)
    tiny_centre = _det(120, 120, 130, 130)
    assert pick_central([big_off, centred, tiny_centre], (250, 250, 3)) is centred
    assert pick_central([], (250, 250, 3)) is None


def _people(lfw: Path, k: int, min_images: int) -> list[str]:
    out = []
    for d in sorted(lfw.iterdir()):
        if d.is_dir() and len(list(d.glob("*.jpg"))) >= min_images:
            out.append(d.name)
            if len(out) == k:
                break
    return out


def test_eval_lfw_small(
    model_dir: Path, testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lfw = testdata / "lfw"
    a, b, c = _people(lfw, 3, 3)
    # 2 folds × (2 matched + 2 mismatched)
    lines = ["2 2", f"{a} 1 2", f"{b} 1 2", f"{a} 1 {b} 1", f"{b} 2 {c} 1",
             f"{c} 1 2", f"{a} 2 3", f"{a} 3 {c} 2", f"{b} 3 {c} 3"]  # fmt: skip
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(lines) + "\n")
    rc = anju_main(["recognition", "eval", "lfw", "--root", str(lfw), "--pairs", str(pairs), "--json",
                    "--workers", "1", "--model-dir", str(model_dir)])  # fmt: skip
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    for key in (
        "accuracy_mean",
        "accuracy_std",
        "tar_at_far_1e-3",
        "threshold",
        "pairs",
        "failed_images",
        "seconds",
    ):
        assert key in doc
    assert doc["pairs"] == 8 and doc["failed_images"] == 0
    assert doc["accuracy_mean"] == 1.0


def test_eval_lfw_missing_images(testdata: Path, tmp_path: Path, model_dir: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1 1\nNobody_Here 1 2\nNobody_Here 1 Somebody_Else 1\n")
    rc = anju_main(["recognition", "eval", "lfw", "--root", str(testdata / "lfw"), "--pairs", str(pairs),
                    "--model-dir", str(model_dir)])  # fmt: skip
    assert rc == 2


def test_eval_openset_small(
    model_dir: Path, testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lfw = testdata / "lfw"
    root = tmp_path / "people"
    for name in _people(lfw, 5, 3) + _people(lfw, 3, 1)[:3]:
        (root / name).mkdir(parents=True, exist_ok=True)
        for f in sorted((lfw / name).glob("*.jpg"))[:3]:
            (root / name / f.name).symlink_to(f)
    rc = anju_main(["recognition", "eval", "openset", "--root", str(root), "--gallery", "3", "--json",
                    "--workers", "1", "--model-dir", str(model_dir)])  # fmt: skip
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["gallery"] == 3 and doc["mated_probes"] == 6
    assert doc["rank1"] == 1.0
    for key in ("fnir_at_fpir_1e-2", "fnir_at_fpir_1e-3"):
        assert 0.0 <= doc[key] <= 1.0
    rc = anju_main(["recognition", "eval", "openset", "--root", str(root), "--gallery", "50",
                    "--model-dir", str(model_dir)])  # fmt: skip
    assert rc == 2
