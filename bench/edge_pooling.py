"""``anju bench edge --pooling-lfw DIR``: the gate's multi-look rules compared on LFW.

A gate track gives several looks at one face; the edge decides a person when
``min_consistent_matches`` looks agree. Two rules are compared at the same
open-set threshold, on real faces, for false and genuine accepts:

* ``each``: every one of the N looks has the person as top-1 with a score ≥ the
  threshold (the rule the edge had first);
* ``pooled``: every one of the N looks has the person as top-1 (any score) and
  the track's pooled template — the mean of the L2-normalised embeddings,
  re-normalised — has the person as top-1 with a score ≥ the threshold;
* ``deployed``: ``each`` or ``pooled`` (the edge tries pooling only when
  single looks do not already decide), optionally with the one-strong-look
  shortcut (``--strong``) in both;
* ``consistent``: every look has the person as top-1, at least one scores ≥ the
  threshold (T_hi) and the others ≥ T_lo = T_hi − ``consistent_margin``
  (the edge's default rule since issue 4), with the strong shortcut as
  ``consistent_strong``. The margin is calibrated here on one half of the
  people (identities alternate between halves, sorted by name) as the largest
  margin whose false-accept rate, strong shortcut included, is no higher than
  ``each_strong`` (the rule the gate ran before) on that half, and reported
  on the other half (and the other way round as a check of its stability).

Protocol (open set, like ``anju recognition eval openset``): people with ≥ 3
images are split alternately (sorted by name) into enrolled and not enrolled;
enrolled people contribute their first image to the gallery, which is filled up
to ``gallery`` identities with first images of people with fewer images (they
are never probed). Tracks are all N-subsets of the remaining images of a person
(at most ``max_images`` images per person, so a few people with hundreds of
photos do not dominate): genuine tracks from enrolled people (accepted as the
right person = genuine accept), impostor tracks from people not enrolled
(accepted as anybody = false accept). LFW looks of one track are different
photographs (other day, pose, light): their embeddings disagree more than
consecutive video frames, which makes pooling's score gain — for impostors too —
larger than at a gate, so this is a hard test for the pooled rule.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _people(root: Path) -> list[tuple[str, list[Path]]]:
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        imgs = sorted(d.glob("*.jpg"))
        if imgs:
            out.append((d.name, imgs))
    return out


@dataclass(frozen=True)
class TrackScores:
    """One LFW track (N looks) as the consistent-look rule sees it."""

    half: int  # which half of the people the track's person belongs to (0 / 1)
    genuine: bool  # an enrolled person's track (else an impostor: nobody enrolled)
    same: bool  # every look has the same top-1 candidate
    right: bool  # that candidate is the person (genuine tracks only)
    hi: float  # best look's top-1 score
    lo: float  # worst look's top-1 score
    strong_ok: bool  # a look ≥ the strong-match score (the shortcut accepts it alone)
    strong_right: bool  # …and its top-1 is the person (genuine tracks only)


def consistent_accepts(t: TrackScores, threshold: float, margin: float, strong: bool) -> bool:
    """Whether the consistent-look rule (with the strong shortcut if ``strong``) accepts the track as
    its candidate; for genuine tracks, as the right person."""
    consistent = t.same and t.hi >= threshold and t.lo >= threshold - margin
    if t.genuine:
        return (consistent and t.right) or (strong and not consistent and t.strong_ok and t.strong_right)
    return consistent or (strong and t.strong_ok)


def _consistent_rates(
    tracks: list[TrackScores], threshold: float, margin: float, strong: bool, half: int | None
) -> dict[str, Any]:
    sel = [t for t in tracks if half is None or t.half == half]
    imp = np.array([consistent_accepts(t, threshold, margin, strong) for t in sel if not t.genuine])
    gen = np.array([consistent_accepts(t, threshold, margin, strong) for t in sel if t.genuine])
    return {"false_accept": _rates(imp), "genuine_accept": _rates(gen)}


def calibrate_margin(
    tracks: list[TrackScores],
    threshold: float,
    *,
    half: int,
    reference_false_accepts: float,
    strong: bool,
    step: float = 0.001,
    max_margin: float = 0.2,
) -> float:
    """The largest margin (multiple of ``step``) whose false-accept rate on ``half`` — strong shortcut
    included when ``strong`` — is no higher than ``reference_false_accepts``. A margin only adds
    accepts, so the rate grows with it: the scan stops at the first margin over the reference."""
    best = 0.0
    for k in range(round(max_margin / step) + 1):
        m = round(k * step, 6)
        fa = _consistent_rates(tracks, threshold, m, strong, half)["false_accept"]["rate"]
        if fa is None or fa > reference_false_accepts:
            break
        best = m
    return best


def _rates(accepts: np.ndarray) -> dict[str, Any]:
    n = int(accepts.size)
    k = int(accepts.sum())
    return {"accepted": k, "of": n, "rate": round(k / n, 5) if n else None}


def evaluate(
    root: Path,
    *,
    threshold: float,
    looks: int = 2,
    gallery: int = 1000,
    max_images: int = 8,
    strong: float | None = None,
    workers: int | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Embed the LFW subset and compare the rules; returns the figures (JSON-ready)."""
    from recognition.config import RecognitionConfig
    from recognition.evalrun import embed_images

    people = _people(root)
    probed = [(n, imgs) for n, imgs in people if len(imgs) >= looks + 1]
    enrolled = {n for i, (n, _imgs) in enumerate(probed) if i % 2 == 0}
    fillers = [(n, imgs) for n, imgs in people if len(imgs) < looks + 1]
    gallery_names = sorted(enrolled)
    gallery_paths = [dict(probed)[n][0] for n in gallery_names]
    for n, imgs in fillers[: max(0, gallery - len(gallery_names))]:
        gallery_names.append(n)
        gallery_paths.append(imgs[0])
    # Enrolled people: their gallery image is never a probe; others: every image may be one.
    probe_sets = [(n, (imgs[1:] if n in enrolled else imgs)[:max_images]) for n, imgs in probed]
    paths = gallery_paths + [p for _n, ps in probe_sets for p in ps]
    t0 = time.monotonic()
    key = "\n".join(str(p) for p in paths)
    if cache is not None and cache.is_file() and str(np.load(cache)["key"]) == key:
        raw, failed = np.load(cache)["vectors"], int(np.load(cache)["failed"])
    else:
        emb = embed_images(paths, RecognitionConfig(), workers=workers)
        raw, failed = emb.vectors, len(emb.failed)
        if cache is not None:
            np.savez(cache, key=np.array(key), vectors=raw, failed=np.array(failed))
    seconds = time.monotonic() - t0
    vecs = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
    g = vecs[: len(gallery_paths)]
    offset = len(gallery_paths)
    pid_of = {n: i for i, n in enumerate(gallery_names)}

    res: dict[str, list[bool]] = {
        k: [] for k in ("each", "pooled", "deployed", "each_strong", "deployed_strong")
    }
    gen: dict[str, list[bool]] = {k: [] for k in res}
    pooled_minus_mean: list[float] = []
    # Per track, the score each rule compares with the threshold (-inf: the looks disagree on top-1, or
    # the genuine track names somebody else), for the equal-false-accept comparison.
    imp_each: list[float] = []
    imp_pool: list[float] = []
    gen_each: list[float] = []
    gen_pool: list[float] = []
    tracks: list[TrackScores] = []
    for i_person, (name, ps) in enumerate(probe_sets):
        # Halves of the people for calibrating the consistent-look margin: pairs (enrolled, not enrolled)
        # alternate, so each half has both kinds.
        half = (i_person // 2) % 2
        v = vecs[offset : offset + len(ps)]
        offset += len(ps)
        scores = v @ g.T
        top1 = scores.argmax(axis=1)
        top1_score = scores.max(axis=1)
        truth = pid_of.get(name) if name in enrolled else None
        for combo in itertools.combinations(range(len(ps)), looks):
            idx = list(combo)
            cands = {int(top1[i]) for i in idx}
            same = len(cands) == 1
            cand = next(iter(cands))
            each = same and bool((top1_score[idx] >= threshold).all())
            pooled = False
            s_each = s_pool = float("-inf")
            if same:
                mean = v[idx].mean(axis=0)
                mean /= max(float(np.linalg.norm(mean)), 1e-12)
                ps_scores = mean @ g.T
                pooled = int(ps_scores.argmax()) == cand and float(ps_scores.max()) >= threshold
                pooled_minus_mean.append(float(ps_scores[cand]) - float(top1_score[idx].mean()))
                s_each = float(top1_score[idx].min())
                s_pool = float(ps_scores[cand]) if int(ps_scores.argmax()) == cand else s_pool
            if truth is None:
                imp_each.append(s_each)
                imp_pool.append(s_pool)
            else:
                gen_each.append(s_each if cand == truth else float("-inf"))
                gen_pool.append(s_pool if cand == truth else float("-inf"))
            one_strong = strong is not None and bool((top1_score[idx] >= strong).any())
            # The strong shortcut accepts the strong look's own top-1 (counted against the truth).
            strong_pid = int(top1[idx][int(top1_score[idx].argmax())])
            tracks.append(
                TrackScores(
                    half=half,
                    genuine=truth is not None,
                    same=same,
                    right=same and cand == truth,
                    hi=float(top1_score[idx].max()),
                    lo=float(top1_score[idx].min()),
                    strong_ok=one_strong,
                    strong_right=strong_pid == truth,
                )
            )
            row: dict[str, tuple[bool, int]] = {
                "each": (each, cand),
                "pooled": (pooled, cand),
                "deployed": (each or pooled, cand),
                "each_strong": (each or one_strong, cand if each else strong_pid),
                "deployed_strong": (each or pooled or one_strong, cand if each or pooled else strong_pid),
            }
            for k, (ok, who) in row.items():
                if truth is None:
                    res[k].append(ok)
                else:
                    gen[k].append(ok and who == truth)
    out: dict[str, Any] = {
        "protocol": "lfw open set, tracks = all N-subsets of a person's probe images",
        "threshold": threshold,
        "looks_per_track": looks,
        "strong_match_score": strong,
        "gallery_identities": len(gallery_paths),
        "enrolled_probed_people": len(enrolled),
        "not_enrolled_people": len(probed) - len(enrolled),
        "images": len(paths),
        "images_failed_detection": failed,
        "embed_seconds": round(seconds, 1),
        "pooled_score_gain_over_mean": {
            "p50": round(float(np.median(pooled_minus_mean)), 4) if pooled_minus_mean else None,
            "p95": round(float(np.percentile(pooled_minus_mean, 95)), 4) if pooled_minus_mean else None,
        },
    }
    for k in res:
        out[k] = {"false_accept": _rates(np.array(res[k])), "genuine_accept": _rates(np.array(gen[k]))}
    # Pooled rule at the false-accept rate of the each-look rule: its threshold and genuine accepts.
    ie, ip, ge, gp = (np.array(x) for x in (imp_each, imp_pool, gen_each, gen_pool))
    far_each = float((ie >= threshold).mean())
    candidates = np.unique(np.round(np.concatenate([ip[np.isfinite(ip)], [threshold]]), 4))
    t_eq = next((float(t) for t in candidates if float((ip >= t).mean()) <= far_each), None)
    if t_eq is not None:
        out["pooled_at_equal_false_accept"] = {
            "threshold": t_eq,
            "false_accept_rate": round(float((ip >= t_eq).mean()), 5),
            "genuine_accept_rate": round(float((gp >= t_eq).mean()), 5),
            "each_rule_genuine_accept_rate": round(float((ge >= threshold).mean()), 5),
        }
    out["consistent"] = consistent_comparison(tracks, threshold, strong=strong is not None)
    return out


def consistent_comparison(tracks: list[TrackScores], threshold: float, *, strong: bool) -> dict[str, Any]:
    """Calibrate ``consistent_margin`` on one half of the people, report on the other (both ways)."""
    folds = []
    for cal, rep in ((0, 1), (1, 0)):
        ref = _consistent_rates(tracks, threshold, 0.0, strong, cal)["false_accept"]["rate"]
        margin = calibrate_margin(
            tracks,
            threshold,
            half=cal,
            reference_false_accepts=ref if ref is not None else 0.0,
            strong=strong,
        )
        folds.append(
            {
                "calibrated_on_half": cal,
                "reported_on_half": rep,
                "calibration_reference_false_accept_rate": ref,
                "margin": margin,
                "t_lo": round(threshold - margin, 4),
                "reported": {
                    "before_each_strong": _consistent_rates(tracks, threshold, 0.0, strong, rep),
                    "consistent_strong": _consistent_rates(tracks, threshold, margin, strong, rep),
                    "before_each": _consistent_rates(tracks, threshold, 0.0, False, rep),
                    "consistent": _consistent_rates(tracks, threshold, margin, False, rep),
                },
            }
        )
    margins = sorted({0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05} | {f["margin"] for f in folds})
    sweep = {
        f"{m:.3f}": {
            "consistent_strong": _consistent_rates(tracks, threshold, m, strong, None),
            "consistent": _consistent_rates(tracks, threshold, m, False, None),
        }
        for m in margins
    }
    return {
        "rule": "all looks same top-1, one ≥ threshold, the others ≥ threshold - margin",
        "halves": "people alternate by pairs (sorted by name); gallery shared",
        "folds": folds,
        "sweep_all_people": sweep,
    }
