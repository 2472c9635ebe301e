"""Incremental clustering on real LFW embeddings, and the merge/split rules."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import numpy as np
import pytest

from central.reconciliation.clustering import FaceClusterer, two_means
from central.reconciliation.config import ClusteringConfig
from central.simulation.faces import Identity


def make(cfg: ClusteringConfig | None = None) -> FaceClusterer:
    counter = itertools.count(1)
    return FaceClusterer(cfg or ClusteringConfig(), lambda: f"c{next(counter)}")


def test_real_faces_cluster_pure_and_ids_stay_stable(lfw_faces: dict[str, Identity]) -> None:
    stream = [(name, v) for name, ident in lfw_faces.items() for v in ident.vectors]
    random.Random(3).shuffle(stream)
    clusterer = make()
    labels: list[tuple[str, str]] = []
    first_ids: dict[str, str] = {}
    for name, v in stream:
        a = clusterer.add(v)
        labels.append((name, a.cluster_id))
        first_ids.setdefault(name, a.cluster_id)
    final = [(name, clusterer.resolve(cid)) for name, cid in labels]
    by_cluster: dict[str, Counter[str]] = {}
    for name, cid in final:
        by_cluster.setdefault(cid, Counter())[name] += 1
    purity = sum(c.most_common(1)[0][1] for c in by_cluster.values()) / len(final)
    assert purity >= 0.97, purity
    # Each person ends up mostly in one cluster: the largest cluster of a person holds most photos.
    for name in lfw_faces:
        mine = Counter(cid for n, cid in final if n == name)
        assert mine.most_common(1)[0][1] >= 0.6 * sum(mine.values()), (name, mine)
    assert len(clusterer.clusters) <= 3 * len(lfw_faces)
    # An old id always resolves to a live cluster (stable ids through merges).
    for cid in first_ids.values():
        assert clusterer.resolve(cid) in clusterer.clusters


def test_nearest_finds_the_person_and_refuses_strangers(lfw_faces: dict[str, Identity]) -> None:
    names = list(lfw_faces)
    clusterer = make()
    home = {}
    for name in names[:5]:
        for v in lfw_faces[name].vectors[:8]:
            a = clusterer.add(v)
        home[name] = clusterer.resolve(a.cluster_id)
    hits = sum(clusterer.nearest(lfw_faces[n].vectors[10])[0] == home[n] for n in names[:5])
    assert hits >= 4
    strangers = [clusterer.nearest(lfw_faces[n].vectors[0])[0] for n in names[5:]]
    assert sum(s is not None for s in strangers) <= 1


def test_bridging_vector_merges_into_the_older_cluster() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=64).astype(np.float32)
    side = rng.normal(size=64).astype(np.float32)
    a = base + 0.55 * side
    b = base - 0.55 * side
    cfg = ClusteringConfig(
        link_threshold=0.75, centroid_threshold=0.5, merge_threshold=0.8, merge_centroid_threshold=0.5
    )
    c = make(cfg)
    first = c.add(a)
    second = c.add(b)
    assert first.created and second.created and first.cluster_id != second.cluster_id
    bridge = c.add(base)
    assert bridge.merged == (second.cluster_id,)
    assert bridge.cluster_id == first.cluster_id
    assert c.resolve(second.cluster_id) == first.cluster_id
    assert c.clusters[first.cluster_id].count == 3


def test_police_merge_and_unknown_cluster() -> None:
    rng = np.random.default_rng(1)
    c = make()
    x = c.add(rng.normal(size=32)).cluster_id
    y = c.add(rng.normal(size=32)).cluster_id
    c.merge(y, x)  # the argument order does not matter for the survivor's identity here
    assert c.resolve(x) == y
    with pytest.raises(KeyError):
        c.merge(y, "nope")


def test_two_people_forced_together_split_apart() -> None:
    rng = np.random.default_rng(2)
    p1, p2 = rng.normal(size=64), rng.normal(size=64)
    cfg = ClusteringConfig(
        link_threshold=-1.0,
        centroid_threshold=-1.0,
        merge_threshold=1.0,
        exemplar_novelty=0.99,
        split_threshold=0.3,
    )
    c = make(cfg)
    created = None
    split_seen: list[str] = []
    for i in range(12):
        v = (p1 if i % 2 == 0 else p2) + 0.2 * rng.normal(size=64)
        a = c.add(v)
        created = created or a.cluster_id
        split_seen.extend(a.split)
    assert split_seen, "a cluster holding two different people must split"
    assert created in c.clusters  # the original id survives the split
    assert len(c.clusters) == 2


def test_two_means_separates_groups() -> None:
    rng = np.random.default_rng(4)
    g1 = rng.normal(size=(5, 16)) + 4
    g2 = rng.normal(size=(5, 16)) - 4
    x = np.vstack([g1, g2]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels, _ = two_means(x)
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1 and labels[0] != labels[5]


def test_bad_vectors_are_refused() -> None:
    c = make()
    with pytest.raises(ValueError):
        c.add(np.zeros(8, dtype=np.float32))
    c.add(np.ones(8, dtype=np.float32))
    with pytest.raises(ValueError):
        c.add(np.ones(9, dtype=np.float32))
