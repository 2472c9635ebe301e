"""`anju bench pipeline` runs both pipelines on the same images and reports comparable figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anju.cli import main as anju_main
from models.fetch import fetch_pack
from models.store import default_model_dir

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


@pytest.mark.skipif(not (SHARED / "models").is_dir(), reason="../shared not present")
def test_bench_pipeline_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    md = default_model_dir()
    fetch_pack("faceplugin", model_dir=md, mirror=SHARED / "models")
    fetch_pack("scrfd_500m", model_dir=md, mirror=SHARED / "models", accept_non_commercial=True)
    imgs = [
        str(SHARED / "testdata" / "examples" / "two_people.jpg"),
        str(SHARED / "testdata" / "images" / "t1.jpg"),
    ]
    rc = anju_main(["bench", "pipeline", "--seconds", "0.2", "--threads", "1", "--json", "--images", *imgs])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["faces_ours"] == doc["faces_insightface"] == [2, 6]
    for mode in ("single_stream", "throughput"):
        assert doc[mode]["ours_fps"] > 0 and doc[mode]["insightface_fps"] > 0
        assert doc[mode]["ratio"] == pytest.approx(
            doc[mode]["ours_fps"] / doc[mode]["insightface_fps"], rel=0.01
        )
