"""Evaluation metrics on constructed scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recognition.metrics import (
    EvalDataError,
    best_threshold,
    kfold_accuracy,
    open_set,
    parse_lfw_pairs,
    tar_at_far,
    threshold_at_far,
)

PAIRS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "lfw" / "pairs.txt"


def test_best_threshold_separates_and_handles_ties() -> None:
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1], bool)
    t, acc = best_threshold(s, y)
    assert acc == 1.0 and 0.3 < t < 0.7
    t, acc = best_threshold(np.array([0.5, 0.5, 0.5, 0.5]), np.array([0, 1, 0, 1], bool))
    assert acc == 0.5
    # all same: everything above
    t, acc = best_threshold(np.array([0.2, 0.4]), np.array([1, 1], bool))
    assert acc == 1.0 and t < 0.2


def test_kfold_uses_other_folds_for_the_threshold() -> None:
    rng = np.random.default_rng(0)
    n = 200
    folds = np.repeat(np.arange(10), n // 10)
    same = np.tile(np.array([1, 0], bool), n // 2)
    scores = np.where(same, 0.6, 0.2) + rng.normal(0, 0.05, n)
    accs, thrs = kfold_accuracy(scores, same, folds)
    assert len(accs) == 10 and min(accs) == 1.0
    assert all(0.3 < t < 0.5 for t in thrs)
    # one fold with flipped labels cannot see its own labels: accuracy there must drop to 0
    same2 = same.copy()
    same2[folds == 3] = ~same2[folds == 3]
    accs2, _ = kfold_accuracy(scores, same2, folds)
    assert accs2[3] == 0.0


def test_far_threshold_and_tar() -> None:
    neg = np.arange(1000) / 1000.0  # 0.000 .. 0.999
    t = threshold_at_far(neg, 1e-3)
    assert (neg >= t).sum() == 1
    assert (neg >= threshold_at_far(neg, 1e-2)).sum() == 10
    scores = np.concatenate([neg, np.array([0.9985, 0.5, 1.2])])
    same = np.concatenate([np.zeros(1000, bool), np.ones(3, bool)])
    tar, _ = tar_at_far(scores, same, 1e-3)
    assert tar == pytest.approx(2 / 3)


def test_open_set_counts() -> None:
    gallery = np.array(["a", "b"])
    probe_ids = np.array(["a", "b", "a", "x", "y"])
    sim = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.35], [0.5, 0.2], [0.1, 0.15]])
    m = open_set(sim, probe_ids, gallery, (1e-2,))
    assert m["mated_probes"] == 3 and m["non_mated_probes"] == 2
    assert m["rank1"] == pytest.approx(2 / 3)
    # threshold just above the best non-mated score (0.5): the two correct mated probes pass
    assert m["fnir_at_fpir_1e-2"] == pytest.approx(1 / 3)


@pytest.mark.skipif(not PAIRS.is_file(), reason="../shared/testdata not present")
def test_parse_official_pairs() -> None:
    pairs = parse_lfw_pairs(PAIRS)
    assert len(pairs) == 6000 and sum(p.same for p in pairs) == 3000
    assert {p.fold for p in pairs} == set(range(10))
    assert pairs[0].a == "Abel_Pacheco/Abel_Pacheco_0001.jpg" and pairs[0].same


def test_bad_pairs_file(tmp_path: Path) -> None:
    p = tmp_path / "pairs.txt"
    p.write_text("10 300\nA 1 2\n")
    with pytest.raises(EvalDataError, match="expected 6000 pairs, found 1"):
        parse_lfw_pairs(p)
    with pytest.raises(EvalDataError, match="cannot read"):
        parse_lfw_pairs(tmp_path / "none.txt")
