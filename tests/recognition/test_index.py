"""The whitelist index: search semantics, model separation, tiers, snapshots and deltas."""

from __future__ import annotations

import numpy as np
import pytest

from bench.index_data import make_gallery
from recognition.index import (
    IndexConfig,
    ModelMismatchError,
    VersionConflictError,
    WhitelistIndex,
    WhitelistIndexError,
    threshold_at_fpir,
)
from recognition.types import Embedding

DIM = 64


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    out: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def test_best_template_per_person_and_topk_order() -> None:
    rng = np.random.default_rng(1)
    idx = WhitelistIndex("m1", DIM, 0.5)
    base = unit(rng, 4)
    # person a: one template equal to the probe direction and one unrelated
    idx.upsert("a", np.stack([base[0], base[1]]))
    idx.upsert("b", base[2:3])
    idx.upsert("c", np.stack([base[3], 0.8 * base[0] + 0.6 * base[3]]))
    assert len(idx) == 3 and idx.template_count == 5 and idx.tier == "exact"
    res = idx.search(base[0], k=5)
    ids = [m.person_id for m in res.candidates]
    assert ids[0] == "a" and ids[1] == "c" and set(ids) == {"a", "b", "c"}
    assert len(ids) == len(set(ids)), "each person appears once"
    assert res.candidates[0].score == pytest.approx(1.0, abs=1e-5)
    c_expected = float(
        np.dot(base[0], (0.8 * base[0] + 0.6 * base[3]) / np.linalg.norm(0.8 * base[0] + 0.6 * base[3]))
    )
    assert res.candidates[1].score == pytest.approx(c_expected, abs=1e-5)
    assert res.accepted is not None and res.accepted.person_id == "a"
    assert res.model_id == "m1" and res.threshold == 0.5
    # k smaller than the number of persons
    assert len(idx.search(base[0], k=1).candidates) == 1


def test_open_set_rejects_unknown_probe() -> None:
    rng = np.random.default_rng(2)
    idx = WhitelistIndex("m1", DIM, 0.6)
    for i, v in enumerate(unit(rng, 20)):
        idx.upsert(f"p{i}", v)
    stranger = unit(rng, 1)[0]
    res = idx.search(stranger)
    assert res.best is not None and res.best.score < 0.6
    assert res.accepted is None


def test_upsert_replaces_and_remove() -> None:
    rng = np.random.default_rng(3)
    idx = WhitelistIndex("m1", DIM, 0.5)
    v = unit(rng, 3)
    idx.upsert("a", v[:2])
    idx.upsert("a", v[2:3])
    assert idx.template_count == 1 and idx.templates_of("a") == 1
    assert idx.search(v[0]).best is not None
    assert idx.search(v[2]).candidates[0].score == pytest.approx(1.0, abs=1e-5)
    assert idx.remove("a") is True
    assert idx.remove("a") is False
    assert len(idx) == 0 and idx.search(v[2]).candidates == ()
    # zero rows remove the person
    idx.upsert("b", v[:1])
    idx.upsert("b", np.zeros((0, DIM), dtype=np.float32))
    assert "b" not in idx


def test_other_models_templates_are_refused() -> None:
    rng = np.random.default_rng(4)
    idx = WhitelistIndex("faceplugin-r50", DIM, 0.5)
    v = unit(rng, 2)
    with pytest.raises(ModelMismatchError, match="sface"):
        idx.upsert("a", v, model_id="sface")
    with pytest.raises(ModelMismatchError):
        idx.upsert("a", [Embedding(v[0], "sface")])
    idx.upsert("a", [Embedding(v[0], "faceplugin-r50"), Embedding(v[1], "faceplugin-r50")])
    assert idx.template_count == 2
    with pytest.raises(ModelMismatchError):
        idx.search(Embedding(v[0], "sface"))
    with pytest.raises(ModelMismatchError):
        idx.apply_snapshot({"a": v}, 1, model_id="sface")
    assert idx.search(Embedding(v[0], "faceplugin-r50")).best is not None


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (np.zeros((1, DIM + 1), dtype=np.float32), "dimension"),
        (np.full((1, DIM), np.nan, dtype=np.float32), "NaN"),
        (np.zeros((1, DIM), dtype=np.float32), "zero length"),
        (np.ones((1, DIM), dtype=np.int32), "floating point"),
    ],
)
def test_bad_vectors_are_refused(bad: np.ndarray, reason: str) -> None:
    idx = WhitelistIndex("m1", DIM, 0.5)
    with pytest.raises(WhitelistIndexError, match=reason):
        idx.upsert("a", bad)
    assert len(idx) == 0


def test_snapshot_and_delta_versions() -> None:
    rng = np.random.default_rng(5)
    idx = WhitelistIndex("m1", DIM, 0.5)
    v = unit(rng, 6)
    assert idx.version == 0
    idx.apply_snapshot({"a": v[0:1], "b": v[1:3], "empty": v[:0]}, 3)
    assert idx.version == 3 and sorted(idx.persons()) == ["a", "b"]
    idx.apply_delta({"c": v[3:4], "a": v[4:5]}, ["b"], base_version=3, version=4)
    assert idx.version == 4 and sorted(idx.persons()) == ["a", "c"]
    assert idx.search(v[4]).best == idx.search(v[4]).accepted
    assert idx.search(v[4]).candidates[0].person_id == "a"
    with pytest.raises(VersionConflictError, match="v4"):
        idx.apply_delta({}, ["a"], base_version=3, version=5)
    with pytest.raises(WhitelistIndexError):
        idx.apply_delta({}, ["a"], base_version=4, version=4)
    # a delta with one bad vector changes nothing, version included
    with pytest.raises(WhitelistIndexError):
        idx.apply_delta({"d": v[5:6], "e": np.zeros((1, 3), np.float32)}, ["a"], base_version=4, version=5)
    assert idx.version == 4 and sorted(idx.persons()) == ["a", "c"]
    # a snapshot replaces everything
    idx.apply_snapshot({"z": v[5:6]}, 9)
    assert idx.persons() == ["z"] and idx.version == 9


def test_threshold_at_fpir() -> None:
    scores = np.linspace(0.0, 0.99, 100)
    t = threshold_at_fpir(scores, 0.05)
    assert np.mean(scores >= t) <= 0.05
    assert np.mean(scores >= t - 0.011) > 0.05  # not needlessly high
    with pytest.raises(WhitelistIndexError):
        threshold_at_fpir(np.array([]), 0.01)


def test_tiers_switch_and_ivf_recall_against_exact() -> None:
    gal = make_gallery(3000, templates_per_identity=2, probes=500, dim=128, seed=7)
    entries = {f"p{i}": gal.templates[2 * i : 2 * i + 2] for i in range(3000)}
    exact = WhitelistIndex("m", 128, 0.3, IndexConfig(exact_max_size=10_000))
    exact.apply_snapshot(entries, 1)
    ann = WhitelistIndex("m", 128, 0.3, IndexConfig(exact_max_size=1000))
    ann.apply_snapshot(entries, 1)
    assert exact.tier == "exact" and ann.tier == "ivf"
    top_e = [r.best.person_id for r in exact.search_batch(gal.probes, 3) if r.best]
    top_a = [r.best.person_id for r in ann.search_batch(gal.probes, 3) if r.best]
    recall = np.mean([a == e for a, e in zip(top_a, top_e, strict=True)])
    assert recall >= 0.98
    # single search agrees with the batch
    assert ann.search(gal.probes[0], 3) == ann.search_batch(gal.probes[:1], 3)[0]
    # updates keep working in the IVF tier
    ann.upsert("new", gal.probes[1:2])
    assert ann.search(gal.probes[1]).candidates[0].person_id == "new"
    assert ann.remove("new") and "new" not in ann
    # shrinking well below the limit goes back to exact, keeping every remaining person searchable
    for i in range(2800):
        ann.remove(f"p{i}")
    assert str(ann.tier) == "exact" and len(ann) == 200
    hit = ann.search(gal.templates[2 * 2900])
    assert hit.candidates[0].person_id == "p2900" and hit.candidates[0].score > 0.98


def test_growth_crosses_into_ivf_by_upserts() -> None:
    rng = np.random.default_rng(8)
    idx = WhitelistIndex("m", DIM, 0.5, IndexConfig(exact_max_size=300))
    vecs = unit(rng, 400)
    for i, v in enumerate(vecs):
        idx.upsert(f"p{i}", v)
    assert idx.tier == "ivf" and len(idx) == 400
    found = sum(idx.search(vecs[i], 1).candidates[0].person_id == f"p{i}" for i in range(400))
    assert found >= 396


def test_tune_changes_nprobe_of_the_ivf_tier() -> None:
    gal = make_gallery(2000, probes=200, dim=512, seed=9)
    entries = {f"p{i}": gal.templates[i : i + 1] for i in range(2000)}
    exact = WhitelistIndex("m", 512, 0.3, IndexConfig(exact_max_size=10_000))
    exact.apply_snapshot(entries, 1)
    idx = WhitelistIndex("m", 512, 0.3, IndexConfig(exact_max_size=500))
    idx.apply_snapshot(entries, 1)
    assert idx.tier == "ivf"
    truth = [r.best for r in exact.search_batch(gal.probes, 1)]

    def recall() -> float:
        got = [r.best for r in idx.search_batch(gal.probes, 1)]
        return float(
            np.mean(
                [
                    a is not None and b is not None and a.person_id == b.person_id
                    for a, b in zip(got, truth, strict=True)
                ]
            )
        )

    idx.tune(nprobe=1, refine_factor=2)
    assert idx.nprobe == 1 and idx.config.refine_factor == 2
    narrow = recall()
    idx.tune(nprobe=idx._state.nlist, refine_factor=10)  # every list: only PQ nomination can miss
    wide = recall()
    assert wide >= 0.99 and wide > narrow
    with pytest.raises(WhitelistIndexError):
        idx.tune(nprobe=0)
