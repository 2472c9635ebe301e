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
  shortcut (``--strong``) in both.

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
    for name, ps in probe_sets:
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
    return out
