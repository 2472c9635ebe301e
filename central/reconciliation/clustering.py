"""Incremental clustering of stranger face embeddings into stable anonymous identities.

Every stranger track that carries an embedding is assigned to a cluster as it arrives.
A cluster keeps a bounded set of diverse *exemplars* (vectors unlike the ones it already
has) and the running sum of all its vectors (its centroid). The exemplars of every cluster
live in one FAISS inner-product index, so a new vector is compared with the nearest
exemplars only, never with raw images.

Linkage rules (cosine similarity of L2-normalised vectors):

* join: the best exemplar of a cluster is at least ``link_threshold`` similar *and* the
  cluster centroid at least ``centroid_threshold`` (the second rule stops a chain of
  pairwise-similar faces from swallowing different people);
* merge: when one vector links strongly (``merge_threshold``) to two clusters whose
  centroids also agree (``merge_centroid_threshold``), the evidence says they are the same
  person; the older cluster id survives, so ids stay stable as evidence grows;
* split: when a cluster has grown, its exemplars are cut in two (spherical 2-means); if
  the halves are less similar than ``split_threshold`` the smaller half becomes a new
  cluster.

The clusterer is pure (no database, no clock); the service persists its state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import faiss
import numpy as np

from central.reconciliation.config import ClusteringConfig

log = logging.getLogger(__name__)

SPLIT_CHECK_EVERY = 6
MIN_SPLIT_SIDE = 3


def normalise(vector: np.ndarray) -> np.ndarray:
    """A float32 copy of ``vector`` with unit L2 norm (a zero vector is refused)."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("embedding has zero or non-finite norm")
    return v / norm


@dataclass
class Cluster:
    """One anonymous identity: exemplars (n×d), the sum of all vectors and how many there were."""

    cluster_id: str
    exemplars: np.ndarray
    vector_sum: np.ndarray
    count: int
    order: int = 0  # creation order; the oldest cluster keeps its id on merge

    @property
    def centroid(self) -> np.ndarray:
        return normalise(self.vector_sum)


@dataclass(frozen=True)
class Assignment:
    """Where one vector went."""

    cluster_id: str
    similarity: float  # best exemplar similarity; 1.0 for a new cluster
    created: bool
    merged: tuple[str, ...] = ()  # cluster ids absorbed into ``cluster_id`` by this vector
    split: tuple[str, ...] = ()  # new cluster ids split off ``cluster_id`` by this vector


@dataclass
class _Links:
    best: dict[str, float] = field(default_factory=dict)


class FaceClusterer:
    """Incremental, FAISS-backed clustering with stable ids."""

    def __init__(self, config: ClusteringConfig, new_id: Callable[[], str], dim: int | None = None) -> None:
        self._config = config
        self._new_id = new_id
        self._dim = dim
        self._clusters: dict[str, Cluster] = {}
        self._aliases: dict[str, str] = {}
        self._index: faiss.IndexFlatIP | None = None
        self._owners: list[str] = []
        self._next_order = 0

    # ----------------------------------------------------------------- state
    @property
    def clusters(self) -> dict[str, Cluster]:
        return self._clusters

    def resolve(self, cluster_id: str) -> str:
        """The live id for a cluster id that may have been merged away."""
        seen = set()
        while cluster_id in self._aliases and cluster_id not in seen:
            seen.add(cluster_id)
            cluster_id = self._aliases[cluster_id]
        return cluster_id

    def load(self, clusters: Iterable[Cluster], aliases: dict[str, str] | None = None) -> None:
        """Replace the state (the service restores it from the database)."""
        self._clusters = {}
        for c in sorted(clusters, key=lambda c: c.order):
            self._clusters[c.cluster_id] = c
            self._next_order = max(self._next_order, c.order + 1)
            if self._dim is None and c.exemplars.size:
                self._dim = int(c.exemplars.shape[1])
        self._aliases = dict(aliases or {})
        self._rebuild()

    def _rebuild(self) -> None:
        self._owners = []
        if self._dim is None:
            self._index = None
            return
        self._index = faiss.IndexFlatIP(self._dim)
        for c in self._clusters.values():
            if c.exemplars.size:
                self._index.add(np.ascontiguousarray(c.exemplars, dtype=np.float32))
                self._owners.extend([c.cluster_id] * c.exemplars.shape[0])

    def _links(self, v: np.ndarray) -> dict[str, float]:
        if self._index is None or self._index.ntotal == 0:
            return {}
        k = min(self._config.search_k, self._index.ntotal)
        sims, rows = self._index.search(v.reshape(1, -1), k)
        best: dict[str, float] = {}
        for s, r in zip(sims[0], rows[0], strict=True):
            if r < 0:
                continue
            cid = self.resolve(self._owners[int(r)])
            if cid in self._clusters and float(s) > best.get(cid, -2.0):
                best[cid] = float(s)
        return best

    def nearest(self, vector: np.ndarray) -> tuple[str | None, float]:
        """The cluster a vector would join (or None) and its best exemplar similarity."""
        v = normalise(vector)
        links = self._eligible(v, self._links(v))
        if not links:
            return None, -1.0
        cid = max(links, key=lambda c: links[c])
        return cid, links[cid]

    def _eligible(self, v: np.ndarray, links: dict[str, float]) -> dict[str, float]:
        cfg = self._config
        out = {}
        for cid, s in links.items():
            if s < cfg.link_threshold:
                continue
            if float(self._clusters[cid].centroid @ v) < cfg.centroid_threshold:
                continue
            out[cid] = s
        return out

    # ------------------------------------------------------------------ add
    def add(self, vector: np.ndarray) -> Assignment:
        """Assign one embedding; may create, merge or split clusters."""
        v = normalise(vector)
        if self._dim is None:
            self._dim = int(v.shape[0])
            self._rebuild()
        elif v.shape[0] != self._dim:
            raise ValueError(f"embedding has {v.shape[0]} dimensions, clusters have {self._dim}")
        links = self._links(v)
        eligible = self._eligible(v, links)
        if not eligible:
            cid = self._create(v)
            return Assignment(cluster_id=cid, similarity=1.0, created=True)
        best_id = max(eligible, key=lambda c: eligible[c])
        similarity = eligible[best_id]
        self._append(best_id, v, links.get(best_id, -1.0))
        merged: list[str] = []
        cfg = self._config
        for other, s in sorted(eligible.items(), key=lambda kv: -kv[1]):
            if other == best_id or s < cfg.merge_threshold:
                continue
            keep = self.resolve(best_id)
            if other not in self._clusters or keep == other:
                continue
            if (
                float(self._clusters[keep].centroid @ self._clusters[other].centroid)
                < cfg.merge_centroid_threshold
            ):
                continue
            survivor, absorbed = self._order_pair(keep, other)
            self.merge(survivor, absorbed)
            merged.append(absorbed)
        final = self.resolve(best_id)
        split = self._maybe_split(final)
        return Assignment(
            cluster_id=final, similarity=similarity, created=False, merged=tuple(merged), split=tuple(split)
        )

    def _order_pair(self, a: str, b: str) -> tuple[str, str]:
        ca, cb = self._clusters[a], self._clusters[b]
        return (a, b) if ca.order <= cb.order else (b, a)

    def _create(self, v: np.ndarray) -> str:
        cid = self._new_id()
        self._clusters[cid] = Cluster(
            cluster_id=cid,
            exemplars=v.reshape(1, -1).copy(),
            vector_sum=v.copy(),
            count=1,
            order=self._next_order,
        )
        self._next_order += 1
        self._index_add(v)
        self._owners.append(cid)
        return cid

    def _append(self, cid: str, v: np.ndarray, best_exemplar_sim: float) -> None:
        c = self._clusters[cid]
        c.vector_sum = c.vector_sum + v
        c.count += 1
        if (
            best_exemplar_sim < self._config.exemplar_novelty
            and c.exemplars.shape[0] < self._config.max_exemplars
        ):
            c.exemplars = np.vstack([c.exemplars, v.reshape(1, -1)])
            self._index_add(v)
            self._owners.append(cid)

    def _index_add(self, v: np.ndarray) -> None:
        if self._index is None:
            self._dim = int(v.shape[0])
            self._rebuild()
        if self._index is None:
            raise RuntimeError("clusterer index could not be built")
        self._index.add(v.reshape(1, -1))

    # --------------------------------------------------------- merge / split
    def merge(self, keep: str, absorb: str) -> None:
        """Fold ``absorb`` into ``keep`` (also used when a police officer merges two clusters)."""
        keep, absorb = self.resolve(keep), self.resolve(absorb)
        if keep == absorb:
            return
        if keep not in self._clusters or absorb not in self._clusters:
            raise KeyError(f"unknown cluster {keep if keep not in self._clusters else absorb}")
        a, b = self._clusters[keep], self._clusters.pop(absorb)
        a.vector_sum = a.vector_sum + b.vector_sum
        a.count += b.count
        room = self._config.max_exemplars - a.exemplars.shape[0]
        if room > 0:
            a.exemplars = np.vstack([a.exemplars, b.exemplars[:room]])
        a.order = min(a.order, b.order)
        self._aliases[absorb] = keep
        # Index rows of ``absorb`` resolve to ``keep`` through the alias; rebuild keeps the
        # exemplar cap exact and drops rows that did not fit.
        self._rebuild()
        log.debug("cluster %s merged into %s", absorb, keep)

    def _maybe_split(self, cid: str) -> list[str]:
        c = self._clusters.get(cid)
        if c is None or c.count % SPLIT_CHECK_EVERY != 0 or c.exemplars.shape[0] < 2 * MIN_SPLIT_SIDE:
            return []
        labels, cents = two_means(c.exemplars)
        sizes = np.bincount(labels, minlength=2)
        if sizes.min() < MIN_SPLIT_SIDE or float(cents[0] @ cents[1]) >= self._config.split_threshold:
            return []
        minor = int(np.argmin(sizes))
        new_id = self._new_id()
        moved = c.exemplars[labels == minor]
        kept = c.exemplars[labels != minor]
        # Share the count by exemplar proportion: the exact split of past vectors is
        # re-derived by the service from the stored sightings.
        moved_count = max(1, round(c.count * moved.shape[0] / c.exemplars.shape[0]))
        moved_sum = moved.sum(axis=0) * (moved_count / moved.shape[0])
        self._clusters[new_id] = Cluster(
            cluster_id=new_id,
            exemplars=moved,
            vector_sum=moved_sum,
            count=moved_count,
            order=self._next_order,
        )
        self._next_order += 1
        c.exemplars = kept
        c.vector_sum = kept.sum(axis=0) * ((c.count - moved_count) / kept.shape[0])
        c.count = max(1, c.count - moved_count)
        self._rebuild()
        log.info("cluster %s split: %d exemplars moved to %s", cid, moved.shape[0], new_id)
        return [new_id]

    def restate(self, cluster_id: str, vectors: np.ndarray) -> None:
        """Recompute a cluster's centroid and count from the exact vectors assigned to it."""
        c = self._clusters[cluster_id]
        c.vector_sum = np.asarray(vectors, dtype=np.float32).sum(axis=0)
        c.count = int(vectors.shape[0])


def two_means(x: np.ndarray, iterations: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Spherical 2-means of unit rows, seeded with the two least similar rows (deterministic)."""
    sims = x @ x.T
    i, j = np.unravel_index(int(np.argmin(sims)), sims.shape)
    cents = np.stack([x[i], x[j]]).astype(np.float32)
    labels = np.zeros(x.shape[0], dtype=np.int64)
    for _ in range(iterations):
        labels = np.argmax(x @ cents.T, axis=1)
        new = np.stack([x[labels == k].sum(axis=0) if np.any(labels == k) else cents[k] for k in (0, 1)])
        new = new / np.maximum(np.linalg.norm(new, axis=1, keepdims=True), 1e-12)
        if np.allclose(new, cents):
            break
        cents = new.astype(np.float32)
    return labels, cents
