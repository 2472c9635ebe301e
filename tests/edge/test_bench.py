"""`anju bench edge` runs end to end and reports every figure (values are not asserted: no timings)."""

from __future__ import annotations

import json
from pathlib import Path

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
        "open_frames_to_decision",
        "open_ms_after_deciding_frame",
    ):
        assert key in out
    assert out["decisions"] >= 1 and out["embeddings_per_frame_policy"] >= out["embeddings_per_track_policy"]
    assert "1" in out["stream_trials"]


def test_pooling_comparison_on_a_small_lfw_subset(tmp_path: Path) -> None:
    from bench.edge_pooling import evaluate

    lfw = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "lfw"
    people = sorted(d for d in lfw.iterdir() if d.is_dir())
    rich = [d for d in people if len(list(d.glob("*.jpg"))) >= 3][:8]
    poor = [d for d in people if len(list(d.glob("*.jpg"))) == 1][:4]
    for d in rich + poor:
        (tmp_path / d.name).symlink_to(d)
    out = evaluate(tmp_path, threshold=0.474, gallery=8, max_images=3, strong=0.5, workers=1)
    assert out["gallery_identities"] == 8 and out["enrolled_probed_people"] == 4
    for rule in ("each", "pooled", "deployed", "each_strong", "deployed_strong"):
        fa, ga = out[rule]["false_accept"], out[rule]["genuine_accept"]
        assert fa["of"] > 0 and ga["of"] > 0 and 0 <= fa["accepted"] <= fa["of"]
    # The deployed rule is "each or pooled": it accepts at least what either accepts.
    assert out["deployed"]["genuine_accept"]["accepted"] >= out["each"]["genuine_accept"]["accepted"]
    assert out["deployed"]["false_accept"]["accepted"] >= out["pooled"]["false_accept"]["accepted"]
    folds = out["consistent"]["folds"]
    assert [f["calibrated_on_half"] for f in folds] == [0, 1]
    for f in folds:
        assert 0 <= f["margin"] <= 0.2 and f["t_lo"] == pytest.approx(0.474 - f["margin"], abs=1e-4)
        rep = f["reported"]
        # A margin only adds accepts: never fewer genuine (or false) accepts than the rule it extends.
        for rule, base in (("consistent_strong", "before_each_strong"), ("consistent", "before_each")):
            for kind in ("false_accept", "genuine_accept"):
                assert rep[rule][kind]["accepted"] >= rep[base][kind]["accepted"]


def test_margin_calibration_stops_before_the_first_extra_false_accept() -> None:
    from bench.edge_pooling import TrackScores, calibrate_margin, consistent_accepts

    def imp(hi: float, lo: float, half: int = 0) -> TrackScores:
        return TrackScores(half, False, True, False, hi, lo, False, False)

    # Half 0: 100 impostor tracks; one accepted today (both looks ≥ 0.474), one whose second look is
    # 0.0105 below the threshold, the rest far below. Half 1 holds a closer one, which must not matter.
    tracks = [imp(0.48, 0.476), imp(0.48, 0.4635)] + [imp(0.3, 0.2)] * 98 + [imp(0.48, 0.472, half=1)]
    margin = calibrate_margin(tracks, 0.474, half=0, reference_false_accepts=0.01, strong=True)
    assert margin == pytest.approx(0.01)
    assert consistent_accepts(tracks[1], 0.474, 0.011, strong=True)
    assert not consistent_accepts(tracks[1], 0.474, margin, strong=True)
    genuine_wrong = TrackScores(0, True, True, False, 0.49, 0.48, False, False)
    assert not consistent_accepts(genuine_wrong, 0.474, 0.01, strong=True)  # accepted, but as somebody else
