"""`anju bench edge` runs end to end and reports every figure (values are not asserted: no timings)."""

from __future__ import annotations

import json

import pytest

from anju.cli import main

pytestmark = pytest.mark.slow


def test_bench_edge_reports_all_figures(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "edge", "--json", "--loops", "1", "--streams", "1", "--stream-seconds", "2"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in (
        "latency_ms_open_p50",
        "latency_ms_open_p95",
        "analysed_fps",
        "streams_sustained",
        "embed_saving_ratio",
        "embeddings_per_track_policy",
        "embeddings_per_frame_policy",
    ):
        assert key in out
    assert out["decisions"] >= 1 and out["embeddings_per_frame_policy"] >= out["embeddings_per_track_policy"]
    assert "1" in out["stream_trials"]
