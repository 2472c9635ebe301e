"""Building blocks of the whitelist index: configuration, errors, the two tiers and the rerank store.

Exact tier: ``IndexIDMap2(IndexFlatIP)`` — float32 templates, exact cosine.

Approximate tier (chosen from ``anju bench index`` measurements, see
``docs/recognition.md``): an inverted file whose lists hold 4-bit product
quantisation codes scanned with FAISS's SIMD "fast-scan" kernels
(``IndexIVFPQFastScan``, 64 bytes per template at d=512), which only
*nominates* candidates; each candidate is then re-scored from an 8-bit
scalar-quantised copy of its template (512 bytes at d=512, error ≈ 0.002 in
cosine). The open-set decision therefore uses near-exact scores, at ≈ 0.6 KB
per template. IVF-SQ8 alone scanned too slowly at 1M (p50 ≈ 5 ms at
recall@1 0.99) and HNSW-SQ8 reached lower recall than IVF at equal latency and
cannot remove vectors in place.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import faiss
import numpy as np
from pydantic import Field

from anju.config import StrictModel
from anju.errors import AnjuError

TierKind = Literal["exact", "ivf"]


class WhitelistIndexError(AnjuError):
    """A request the whitelist index refuses (bad vector, bad id …)."""


class ModelMismatchError(WhitelistIndexError):
    """A template or probe made by another model than the index's."""


class VersionConflictError(WhitelistIndexError):
    """A delta whose base version is not the index's version: ask for a snapshot."""


class IndexConfig(StrictModel):
    """How the whitelist index is built; the defaults come from ``anju bench index``."""

    exact_max_size: int = Field(
        2048,
        ge=0,
        le=10_000_000,
        description="templates up to which search is exact (IndexFlatIP); above it the IVF index is used",
    )
    ann: Literal["ivf_pq4fs", "ivf_sq8"] = Field(
        "ivf_pq4fs",
        description="index that nominates candidates: IVF + 4-bit PQ fast-scan, or IVF + 8-bit SQ",
    )
    pq_subvector_dim: int = Field(
        4,
        ge=1,
        le=64,
        description="dimensions per 4-bit PQ sub-quantiser (ivf_pq4fs); code bytes = dim / (2·this)",
    )
    refine_factor: int = Field(
        10,
        ge=1,
        le=100,
        description="candidates re-scored from 8-bit codes = refine_factor × k × templates/person",
    )
    nlist: int | None = Field(
        None,
        ge=1,
        le=262_144,
        description="IVF lists; default 2·√templates with at least 39 templates per list",
    )
    nprobe: int | None = Field(
        None, ge=1, le=262_144, description="IVF lists scanned per query; default below"
    )
    nprobe_fraction: float = Field(
        0.03, gt=0.0, le=1.0, description="default nprobe as a fraction of nlist (measured: recall@1 ≥ 0.99)"
    )
    min_nprobe: int = Field(16, ge=1, le=4096, description="default nprobe is at least this")
    train_points_per_list: int = Field(40, ge=10, le=1000, description="k-means sample size per list")
    kmeans_iterations: int = Field(10, ge=1, le=100)
    retrain_growth: float = Field(
        4.0, gt=1.0, le=100.0, description="retrain the IVF when templates grew by this factor since training"
    )
    seed: int = Field(1234, description="k-means and sampling seed (builds are reproducible)")
    faiss_threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="when set, FAISS's OpenMP pool (process-wide) gets this many threads; 1 suits edge boxes "
        "where each camera thread searches on its own and OpenMP spin-waiting on busy cores costs more "
        "than it gives",
    )


class CodeStore:
    """8-bit scalar-quantised templates, one row per label, for re-scoring candidates.

    Rows of removed templates stay until the next rebuild (the index counts them as waste).
    """

    def __init__(self, sq: Any, dim: int, capacity: int) -> None:
        self.sq = sq  # faiss.ScalarQuantizer, trained
        self.dim = dim
        self.codes = np.zeros((max(capacity, 16), int(sq.code_size)), dtype=np.uint8)
        self.rows = 0

    @classmethod
    def train(cls, data: np.ndarray, capacity: int) -> CodeStore:
        sq = faiss.ScalarQuantizer(data.shape[1], faiss.ScalarQuantizer.QT_8bit)
        sq.train(np.ascontiguousarray(data[: min(data.shape[0], 65536)]))
        return cls(sq, data.shape[1], capacity)

    @classmethod
    def from_params(cls, params: np.ndarray, dim: int, capacity: int) -> CodeStore:
        sq = faiss.ScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit)
        faiss.copy_array_to_vector(np.ascontiguousarray(params, dtype=np.float32), sq.trained)
        return cls(sq, dim, capacity)

    def params(self) -> np.ndarray:
        return np.asarray(faiss.vector_to_array(self.sq.trained), dtype=np.float32)

    def put(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        need = int(labels.max()) + 1 if labels.size else 0
        if need > self.codes.shape[0]:
            # grow by a quarter, not double: at 1M templates doubling would hold 0.5 GB idle
            grown = np.zeros(
                (max(need, int(self.codes.shape[0] * 1.25) + 1024), self.codes.shape[1]), np.uint8
            )
            grown[: self.rows] = self.codes[: self.rows]
            self.codes = grown
        self.codes[labels] = self.sq.compute_codes(np.ascontiguousarray(vectors, dtype=np.float32))
        self.rows = max(self.rows, need)

    def get(self, labels: np.ndarray) -> np.ndarray:
        return np.asarray(self.sq.decode(np.ascontiguousarray(self.codes[labels])), dtype=np.float32)


@dataclass
class State:
    """One consistent view: the FAISS index, the rerank store and who owns each label."""

    kind: TierKind
    index: Any  # faiss.Index; FAISS has no type stubs
    owners: list[str | None]  # label -> person id (None once removed)
    persons: dict[str, tuple[int, ...]]  # person id -> labels
    store: CodeStore | None = None  # ivf tier only
    hist: Counter[int] = field(default_factory=Counter)  # templates per person -> persons
    templates: int = 0
    trained_at: int = 0  # templates when the IVF was trained
    nlist: int = 0
    nprobe: int = 0

    def max_templates(self) -> int:
        return max((k for k, v in self.hist.items() if v > 0), default=0)

    @property
    def dead_labels(self) -> int:
        return len(self.owners) - self.templates


def l2_normalise(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    """Validate (shape, dtype, finite, non-zero) and L2-normalise to float32 rows."""
    arr = np.asarray(vectors)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise WhitelistIndexError(
            f"{what}: expected vectors of dimension {dim}, got shape {tuple(arr.shape)}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise WhitelistIndexError(f"{what}: vectors must be floating point, got {arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise WhitelistIndexError(f"{what}: vectors contain NaN or infinity")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    if (norms < 1e-6).any():
        raise WhitelistIndexError(f"{what}: a vector has (near) zero length")
    return np.ascontiguousarray(out / norms, dtype=np.float32)


def ivf_params(cfg: IndexConfig, n: int) -> tuple[int, int]:
    """(nlist, nprobe) for ``n`` templates."""
    if cfg.nlist is not None:
        nlist = max(1, min(cfg.nlist, n))
    else:
        nlist = max(1, min(round(2 * math.sqrt(n)), n // 39))
    nprobe = cfg.nprobe or max(cfg.min_nprobe, math.ceil(nlist * cfg.nprobe_fraction))
    return nlist, min(nprobe, nlist)


def new_ivf(cfg: IndexConfig, dim: int, nlist: int) -> Any:
    """An untrained IVF index of the configured kind (inner product on unit vectors = cosine)."""
    metric = faiss.METRIC_INNER_PRODUCT
    if cfg.ann == "ivf_pq4fs":
        if dim % cfg.pq_subvector_dim:
            raise WhitelistIndexError(
                f"index config: pq_subvector_dim={cfg.pq_subvector_dim} must divide the dimension {dim}"
            )
        index: Any = faiss.index_factory(dim, f"IVF{nlist},PQ{dim // cfg.pq_subvector_dim}x4fs", metric)
    else:
        index = faiss.index_factory(dim, f"IVF{nlist},SQ8", metric)
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.niter = cfg.kmeans_iterations
    ivf.cp.seed = cfg.seed
    ivf.cp.max_points_per_centroid = cfg.train_points_per_list
    ivf.cp.min_points_per_centroid = 1
    return index


def build_state(cfg: IndexConfig, dim: int, persons: Mapping[str, np.ndarray]) -> State:
    """A fresh state holding ``persons`` (id → unit rows), tier chosen by the template count."""
    templates = sum(v.shape[0] for v in persons.values())
    kind: TierKind = "ivf" if templates > cfg.exact_max_size else "exact"
    owners: list[str | None] = []
    labelled: dict[str, tuple[int, ...]] = {}
    hist: Counter[int] = Counter()
    for pid, vecs in persons.items():
        n = vecs.shape[0]
        labelled[pid] = tuple(range(len(owners), len(owners) + n))
        owners.extend([pid] * n)
        hist[n] += 1
    data = np.concatenate(list(persons.values())) if persons else np.zeros((0, dim), dtype=np.float32)
    ids = np.arange(templates, dtype=np.int64)
    store = None
    nlist = nprobe = 0
    if kind == "exact":
        index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    else:
        nlist, nprobe = ivf_params(cfg, templates)
        index = new_ivf(cfg, dim, nlist)
        rng = np.random.default_rng(cfg.seed)
        n_train = min(templates, max(nlist * cfg.train_points_per_list, 65536))
        sample = (
            data if n_train >= templates else data[np.sort(rng.choice(templates, n_train, replace=False))]
        )
        index.train(np.ascontiguousarray(sample))
        index.nprobe = nprobe
        store = CodeStore.train(sample, templates)
        store.put(ids, data)
    index.add_with_ids(data, ids)
    return State(
        kind=kind,
        index=index,
        owners=owners,
        persons=labelled,
        store=store,
        hist=hist,
        templates=templates,
        trained_at=templates,
        nlist=nlist,
        nprobe=nprobe,
    )


def extract(st: State) -> dict[str, np.ndarray]:
    """Every person's templates as stored (8-bit codes decoded in the IVF tier); only reads."""
    if not st.persons:
        return {}
    labels = np.fromiter((lab for labs in st.persons.values() for lab in labs), dtype=np.int64)
    if st.store is not None:
        vecs = st.store.get(labels)
    else:
        vecs = np.asarray(st.index.reconstruct_batch(labels), dtype=np.float32)
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    out: dict[str, np.ndarray] = {}
    pos = 0
    for pid, labs in st.persons.items():
        out[pid] = vecs[pos : pos + len(labs)]
        pos += len(labs)
    return out
