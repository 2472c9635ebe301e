"""Verification and identification metrics: LFW View-2 10-fold accuracy, TAR@FAR, open-set FNIR@FPIR.

Pure numpy on score arrays, so they are tested on constructed scores independent of any model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anju.errors import AnjuError


class EvalDataError(AnjuError):
    exit_code = 2


@dataclass(frozen=True)
class Pair:
    a: str  # relative image path "Name/Name_0001.jpg"
    b: str
    same: bool
    fold: int


def lfw_image(name: str, num: int) -> str:
    return f"{name}/{name}_{num:04d}.jpg"


def parse_lfw_pairs(path: Path) -> list[Pair]:
    """The official pairs.txt: a header ``folds n`` then per fold n matched and n mismatched pairs."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        raise EvalDataError(f"{path}: cannot read the pairs file: {exc.strerror or exc}") from exc
    try:
        folds, per = (int(x) for x in lines[0].split())
    except ValueError:
        raise EvalDataError(
            f"{path}: line 1 must be '<folds> <pairs per class>', got {lines[0][:40]!r}"
        ) from None
    rows = [ln.split() for ln in lines[1:] if ln.strip()]
    if len(rows) != folds * per * 2:
        raise EvalDataError(f"{path}: expected {folds * per * 2} pairs, found {len(rows)}")
    pairs = []
    for i, r in enumerate(rows):
        fold = i // (2 * per)
        if len(r) == 3:
            pairs.append(Pair(lfw_image(r[0], int(r[1])), lfw_image(r[0], int(r[2])), True, fold))
        elif len(r) == 4:
            pairs.append(Pair(lfw_image(r[0], int(r[1])), lfw_image(r[2], int(r[3])), False, fold))
        else:
            raise EvalDataError(f"{path}: line {i + 2}: expected 3 or 4 fields, got {len(r)}")
    return pairs


def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Threshold maximising accuracy of ``score >= t`` and that accuracy (ties: the midpoint of the gap)."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], same[order].astype(np.int64)
    n = len(s)
    # predicting "same" for indices >= k: correct = negatives below k + positives from k
    neg_below = np.concatenate([[0], np.cumsum(1 - y)])
    pos_from = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    correct = neg_below + pos_from
    # only cut where the score changes, so the threshold separates distinct values
    valid = np.ones(n + 1, bool)
    valid[1:n] = s[1:] != s[:-1]
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        t = float(s[0]) - 1e-6
    elif k == n:
        t = float(s[-1]) + 1e-6
    else:
        t = float((s[k - 1] + s[k]) / 2)
    return t, float(correct[k]) / n


def kfold_accuracy(
    scores: np.ndarray, same: np.ndarray, folds: np.ndarray
) -> tuple[list[float], list[float]]:
    """Per fold: the threshold chosen on the other folds and the accuracy on this one."""
    accs, thrs = [], []
    for f in np.unique(folds):
        train, test = folds != f, folds == f
        t, _ = best_threshold(scores[train], same[train])
        accs.append(float(((scores[test] >= t) == same[test]).mean()))
        thrs.append(t)
    return accs, thrs


def threshold_at_far(neg_scores: np.ndarray, far: float) -> float:
    """Smallest threshold t with (#negatives scoring >= t) / #negatives <= far."""
    s = np.sort(neg_scores)[::-1]
    k = int(np.floor(far * len(s)))  # at most k false accepts allowed
    if k >= len(s):
        return float(s[-1])
    return float(np.nextafter(s[k], np.inf))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> tuple[float, float]:
    t = threshold_at_far(scores[~same], far)
    return float((scores[same] >= t).mean()), t


def open_set(
    sim: np.ndarray, probe_ids: np.ndarray, gallery_ids: np.ndarray, fpirs: tuple[float, ...]
) -> dict[str, float]:
    """Open-set identification from a probes × gallery similarity matrix.

    Probes whose id is in the gallery are mated. FPIR(t): non-mated probes whose best score >= t;
    FNIR(t): mated probes whose best candidate is not theirs or scores < t; rank1: mated top-1 correct.
    """
    best = sim.argmax(axis=1)
    best_score = sim[np.arange(len(sim)), best]
    in_gallery = np.isin(probe_ids, gallery_ids)
    correct = gallery_ids[best] == probe_ids
    mated, non = in_gallery, ~in_gallery
    out: dict[str, float] = {
        "rank1": float(correct[mated].mean()) if mated.any() else float("nan"),
        "mated_probes": int(mated.sum()),
        "non_mated_probes": int(non.sum()),
    }
    for fpir in fpirs:
        t = threshold_at_far(best_score[non], fpir)
        hit = correct[mated] & (best_score[mated] >= t)
        key = f"{fpir:.0e}".replace("e-0", "e-")
        out[f"fnir_at_fpir_{key}"] = float(1.0 - hit.mean())
        out[f"threshold_at_fpir_{key}"] = t
    return out
