"""`anju recognition embed` on good and bad input: exit codes and messages naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from anju.cli import main as anju_main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = anju_main(args)
    return rc, capsys.readouterr().out


def test_embed_json(model_dir: Path, testdata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = testdata / "examples" / "two_people.jpg"
    rc, out = _run(["recognition", "embed", str(img), "--json", "--model-dir", str(model_dir)], capsys)
    assert rc == 0
    doc = json.loads(out)
    assert len(doc) == 1 and len(doc[0]["faces"]) == 2
    face = doc[0]["faces"][0]
    assert len(face["embedding"]) == 512 and len(face["landmarks"]) == 5 and len(face["box"]) == 4
    assert 0 <= face["liveness"]["score"] <= 1 and "reasons" in face["quality"]
    assert doc[0]["model_id"].startswith("faceplugin/fr_feature.onnx@")
    assert abs(np.linalg.norm(face["embedding"]) - 1.0) < 1e-3


def test_embed_bad_inputs(
    model_dir: Path,
    testdata: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = tmp_path / "readme.jpg"
    text.write_text("hello")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((testdata / "examples" / "obama.jpg").read_bytes()[:5000])
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((200, 300, 3), 90, np.uint8))
    good = testdata / "examples" / "obama.jpg"
    rc, out = _run(
        [
            "recognition",
            "embed",
            str(tmp_path / "missing.jpg"),
            str(text),
            str(cut),
            str(blank),
            str(good),
            "--json",
            "--model-dir",
            str(model_dir),
        ],
        capsys,
    )
    assert rc == 2
    doc = {Path(d["image"]).name: d for d in json.loads(out)}
    assert doc["missing.jpg"]["error"]["reason"] == "unreadable"
    assert doc["readme.jpg"]["error"]["reason"] == "not_an_image"
    assert doc["cut.jpg"]["error"]["reason"] == "truncated"
    assert doc["wall.png"]["error"]["reason"] == "no_face"
    assert len(doc["obama.jpg"]["faces"]) == 1 and "error" not in doc["obama.jpg"]
    for name in ("missing.jpg", "readme.jpg", "cut.jpg", "wall.png"):
        assert name in doc[name]["error"]["message"]


def test_embed_with_missing_models_exits_nonzero(
    tmp_path: Path, testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _ = _run(
        ["recognition", "embed", str(testdata / "examples" / "obama.jpg"), "--model-dir", str(tmp_path)],
        capsys,
    )
    assert rc == 3  # ModelError: not installed
