"""The whitelist index: 1:N face search over enrolled persons with FAISS.

A person has one or more templates (L2-normalised vectors of one model). A
search returns, per person, the best template's cosine score, top-k persons
first, and the open-set decision at the index's threshold (calibrated per
model, see ``docs/recognition.md``, section "Thresholds").

Two tiers, chosen by the number of templates:

* exact (``IndexFlatIP``) up to ``IndexConfig.exact_max_size`` templates;
* approximate above it: an inverted file with 8-bit scalar-quantised codes
  (``IndexIVFScalarQuantizer``, ~0.5 KB per template). IVF was chosen over
  HNSW from measurement (``anju bench index``; HNSW-SQ8 reached lower recall
  at the same latency on face-like data) and because IVF removes vectors in
  place, which a whitelist that changes all day needs.

Concurrency: searches take a shared lock; an update (upsert, remove, delta)
takes the exclusive lock only for its in-place FAISS edit, so a search sees an
update entirely or not at all. Work that rebuilds the index (a snapshot, a
change of tier, retraining after growth) builds a new state while searches
keep using the old one, then swaps it in under the exclusive lock. Updates
are serialised by a separate mutex.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import faiss
import numpy as np

from recognition.index_core import (
    CodeStore,
    IndexConfig,
    ModelMismatchError,
    State,
    TierKind,
    VersionConflictError,
    WhitelistIndexError,
    build_state,
    extract,
    l2_normalise,
)
from recognition.index_lock import RWLock
from recognition.index_store import IndexFileError, read_index_file, write_index_file
from recognition.types import Embedding, Match, SearchResult

log = logging.getLogger(__name__)

__all__ = [
    "IndexConfig",
    "IndexFileError",
    "ModelMismatchError",
    "VersionConflictError",
    "WhitelistIndex",
    "WhitelistIndexError",
    "threshold_at_fpir",
]


def threshold_at_fpir(impostor_best_scores: np.ndarray, fpir: float) -> float:
    """The lowest threshold whose false-positive identification rate is at most ``fpir``.

    ``impostor_best_scores`` holds, for each probe of a person NOT enrolled,
    the best score the index returned. See ``docs/recognition.md``.
    """
    scores = np.sort(np.asarray(impostor_best_scores, dtype=np.float64))[::-1]
    if scores.size == 0:
        raise WhitelistIndexError("threshold_at_fpir: no impostor scores given")
    if not 0.0 < fpir < 1.0:
        raise WhitelistIndexError(f"threshold_at_fpir: fpir must be in (0, 1), got {fpir}")
    allowed = int(np.floor(fpir * scores.size))
    # accepting probes with score >= t: place t just above the (allowed+1)-th highest impostor score
    return float(np.nextafter(scores[allowed], np.inf))


class WhitelistIndex:
    """1:N search over persons with several templates each; thread-safe; see module docstring."""

    def __init__(self, model_id: str, dim: int, threshold: float, config: IndexConfig | None = None) -> None:
        if not model_id:
            raise WhitelistIndexError("model_id must not be empty")
        if not 8 <= dim <= 4096:
            raise WhitelistIndexError(f"dim must be in 8..4096, got {dim}")
        if not -1.0 <= threshold <= 1.0:
            raise WhitelistIndexError(f"threshold is a cosine score in -1..1, got {threshold}")
        self.model_id = model_id
        self.dim = dim
        self._threshold = float(threshold)
        self.config = config or IndexConfig()
        if self.config.faiss_threads is not None:
            faiss.omp_set_num_threads(self.config.faiss_threads)
        self._lock = RWLock()
        self._mutate = threading.Lock()
        self._version = 0
        self._state = self._empty_state()

    # ---- properties --------------------------------------------------------------------------------------

    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        if not -1.0 <= value <= 1.0:
            raise WhitelistIndexError(f"threshold is a cosine score in -1..1, got {value}")
        self._threshold = float(value)

    @property
    def version(self) -> int:
        """The whitelist version last applied by :meth:`apply_snapshot` / :meth:`apply_delta` (0: none)."""
        return self._version

    @property
    def template_count(self) -> int:
        return self._state.templates

    @property
    def tier(self) -> TierKind:
        """``exact`` or ``ivf``: which index serves searches now."""
        return self._state.kind

    @property
    def nprobe(self) -> int:
        return self._state.nprobe

    def tune(self, *, nprobe: int | None = None, refine_factor: int | None = None) -> None:
        """Change search-time parameters of the IVF tier (until the next rebuild picks the defaults).

        ``nprobe``: lists scanned per query; ``refine_factor``: candidates re-scored per result.
        """
        with self._mutate, self._lock.write():
            if refine_factor is not None:
                self.config.refine_factor = refine_factor
            st = self._state
            if nprobe is not None and st.kind == "ivf":
                if not 1 <= nprobe <= st.nlist:
                    raise WhitelistIndexError(f"nprobe must be in 1..{st.nlist}, got {nprobe}")
                faiss.extract_index_ivf(st.index).nprobe = nprobe
                st.nprobe = nprobe

    def __len__(self) -> int:
        return len(self._state.persons)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._state.persons

    def persons(self) -> list[str]:
        with self._lock.read():
            return list(self._state.persons)

    def templates_of(self, person_id: str) -> int:
        return len(self._state.persons.get(person_id, ()))

    # ---- input checks -------------------------------------------------------------------------------------

    def _check_model(self, model_id: str | None, what: str) -> None:
        if model_id is not None and model_id != self.model_id:
            raise ModelMismatchError(
                f"{what}: made by model {model_id!r}, this index holds {self.model_id!r} templates; "
                "templates of different models are never compared"
            )

    def _vectors(
        self, vectors: np.ndarray | Sequence[Embedding] | Embedding, model_id: str | None, what: str
    ) -> np.ndarray:
        self._check_model(model_id, what)
        if isinstance(vectors, Embedding):
            vectors = [vectors]
        if isinstance(vectors, np.ndarray):
            return l2_normalise(vectors, self.dim, what)
        items = list(vectors)
        for emb in items:
            if not isinstance(emb, Embedding):
                raise WhitelistIndexError(f"{what}: expected a numpy array or Embedding objects")
            self._check_model(emb.model_id, what)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.stack([e.vector for e in items]), self.dim, what)

    def _prepare_bulk(self, entries: Mapping[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
        """Validate and normalise many persons' templates in one pass (a 1M snapshot in seconds)."""
        ids: list[str] = []
        arrays: list[np.ndarray] = []
        for pid, vecs in entries.items():
            self._check_person_id(pid)
            arr = np.asarray(vecs)
            if arr.ndim == 1:
                arr = arr.reshape(1, -1)
            if arr.ndim != 2 or arr.shape[1] != self.dim or not np.issubdtype(arr.dtype, np.floating):
                # the per-person check names the person and the exact reason
                l2_normalise(arr, self.dim, f"{what}: person {pid}")
            ids.append(pid)
            arrays.append(arr)
        if not ids:
            return {}
        try:
            allv = l2_normalise(np.concatenate(arrays), self.dim, what)
        except WhitelistIndexError:
            for pid, arr in zip(ids, arrays, strict=True):
                if arr.shape[0]:
                    l2_normalise(arr, self.dim, f"{what}: person {pid}")
            raise
        out: dict[str, np.ndarray] = {}
        pos = 0
        for pid, arr in zip(ids, arrays, strict=True):
            out[pid] = allv[pos : pos + arr.shape[0]]
            pos += arr.shape[0]
        return out

    @staticmethod
    def _check_person_id(person_id: str) -> None:
        if not isinstance(person_id, str) or not person_id or len(person_id) > 128:
            raise WhitelistIndexError(
                f"person id must be a non-empty string of ≤ 128 characters: {person_id!r}"
            )

    # ---- mutation -----------------------------------------------------------------------------------------

    def upsert(
        self, person_id: str, vectors: np.ndarray | Sequence[Embedding], *, model_id: str | None = None
    ) -> None:
        """Replace ``person_id``'s templates with ``vectors`` (n×dim, or Embeddings); zero rows remove."""
        self._check_person_id(person_id)
        vecs = self._vectors(vectors, model_id, f"person {person_id}")
        with self._mutate:
            with self._lock.write():
                self._apply_in_place(self._state, {person_id: vecs}, ())
            self._maybe_rebuild()

    def remove(self, person_id: str) -> bool:
        """Remove a person; ``False`` when not enrolled."""
        with self._mutate:
            if person_id not in self._state.persons:
                return False
            with self._lock.write():
                self._apply_in_place(self._state, {}, (person_id,))
            self._maybe_rebuild()
            return True

    def apply_snapshot(
        self, entries: Mapping[str, np.ndarray], version: int, *, model_id: str | None = None
    ) -> None:
        """Replace the whole whitelist with ``entries`` (person id → n×dim templates) at ``version``.

        The new index is built while searches continue on the old one, then swapped in at once.
        """
        self._check_model(model_id, f"whitelist snapshot v{version}")
        if version < 1:
            raise WhitelistIndexError(f"snapshot version must be ≥ 1, got {version}")
        prepared = {
            p: v for p, v in self._prepare_bulk(entries, f"snapshot v{version}").items() if v.shape[0]
        }
        with self._mutate:
            if version < self._version:
                log.warning(
                    "whitelist snapshot v%d is older than the index's v%d; applying it",
                    version,
                    self._version,
                )
            new_state = build_state(self.config, self.dim, prepared)
            with self._lock.write():
                self._state = new_state
                self._version = version
        log.info(
            "whitelist snapshot v%d applied: %d persons, %d templates",
            version,
            len(prepared),
            new_state.templates,
        )

    def apply_delta(
        self,
        upserts: Mapping[str, np.ndarray],
        removals: Iterable[str],
        base_version: int,
        version: int,
        *,
        model_id: str | None = None,
    ) -> None:
        """Move from ``base_version`` to ``version``: all changes become visible to searches at once.

        Raises :class:`VersionConflictError` when the index is not at ``base_version``.
        """
        self._check_model(model_id, f"whitelist delta v{base_version}→v{version}")
        if version <= base_version:
            raise WhitelistIndexError(f"delta version {version} must be greater than its base {base_version}")
        prepared = self._prepare_bulk(upserts, f"delta v{version}")
        gone = [p for p in removals if p not in prepared]
        with self._mutate:
            if base_version != self._version:
                raise VersionConflictError(
                    f"whitelist delta v{base_version}→v{version} does not apply: the index is at "
                    f"v{self._version}; a snapshot is needed"
                )
            with self._lock.write():
                self._apply_in_place(self._state, prepared, gone)
                self._version = version
            self._maybe_rebuild()

    def _apply_in_place(self, st: State, upserts: Mapping[str, np.ndarray], removals: Iterable[str]) -> None:
        """Edit the live index; callers hold the write lock."""
        drop: list[int] = []
        for pid in list(upserts) + list(removals):
            old = st.persons.pop(pid, None)
            if old is None:
                continue
            drop.extend(old)
            st.hist[len(old)] -= 1
            st.templates -= len(old)
            for lab in old:
                st.owners[lab] = None
        if drop:
            st.index.remove_ids(np.asarray(drop, dtype=np.int64))
        add_vecs = [v for v in upserts.values() if v.shape[0]]
        if not add_vecs:
            return
        labels_all: list[int] = []
        for pid, vecs in upserts.items():
            n = vecs.shape[0]
            if not n:
                continue
            labels = tuple(range(len(st.owners), len(st.owners) + n))
            st.owners.extend([pid] * n)
            st.persons[pid] = labels
            st.hist[n] += 1
            st.templates += n
            labels_all.extend(labels)
        labels_arr = np.asarray(labels_all, dtype=np.int64)
        data = np.concatenate(add_vecs)
        if st.store is not None:
            st.store.put(labels_arr, data)
        st.index.add_with_ids(data, labels_arr)

    # ---- building -----------------------------------------------------------------------------------------

    def _empty_state(self) -> State:
        flat = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        return State(kind="exact", index=flat, owners=[], persons={})

    def _wanted_kind(self, templates: int, current: TierKind) -> TierKind:
        limit = self.config.exact_max_size
        if current == "ivf":
            # hysteresis: go back to exact only well below the limit, so one person enrolled and
            # removed at the boundary does not rebuild the index twice
            return "exact" if templates < limit // 2 else "ivf"
        return "ivf" if templates > limit else "exact"

    def _maybe_rebuild(self) -> None:
        """After an in-place edit: change tier or retrain when needed (caller holds ``_mutate``)."""
        st = self._state
        want = self._wanted_kind(st.templates, st.kind)
        grown = st.kind == "ivf" and st.templates > st.trained_at * self.config.retrain_growth
        # rows of removed templates stay in the rerank store; compact once they outnumber live ones
        wasteful = st.kind == "ivf" and st.dead_labels > max(4096, st.templates)
        if want == st.kind and not grown and not wasteful:
            return
        log.info("whitelist index: rebuilding (%s → %s, %d templates)", st.kind, want, st.templates)
        persons = extract(st)
        new_state = build_state(self.config, self.dim, persons)
        with self._lock.write():
            self._state = new_state

    # ---- search -------------------------------------------------------------------------------------------

    def search(
        self, vector: np.ndarray | Embedding, k: int = 5, *, model_id: str | None = None
    ) -> SearchResult:
        """Top-``k`` persons for one probe (best template score per person) and the open-set decision."""
        probe: np.ndarray | Sequence[Embedding] = [vector] if isinstance(vector, Embedding) else vector
        return self.search_batch(probe, k, model_id=model_id)[0]

    def search_batch(
        self, vectors: np.ndarray | Sequence[Embedding], k: int = 5, *, model_id: str | None = None
    ) -> list[SearchResult]:
        """:meth:`search` for each row of ``vectors`` (n×dim) in one FAISS call."""
        if k < 1:
            raise WhitelistIndexError(f"k must be ≥ 1, got {k}")
        q = self._vectors(vectors, model_id, "probe")
        with self._lock.read():
            st = self._state
            if st.templates == 0 or q.shape[0] == 0:
                return [SearchResult((), self._threshold, self.model_id) for _ in range(q.shape[0])]
            # a person holds at most max_templates labels, so k·max_templates hits cover k persons
            kt = min(st.templates, k * st.max_templates())
            if st.store is None:
                scores, labels = st.index.search(q, kt)
            else:
                scores, labels = self._nominate_and_rescore(st, q, kt)
            owners = st.owners
            results = []
            for row_s, row_l in zip(scores.tolist(), labels.tolist(), strict=True):
                best: dict[str, float] = {}
                for s, lab in zip(row_s, row_l, strict=True):
                    if lab < 0:
                        continue
                    pid = owners[lab]
                    if pid is not None and pid not in best:
                        best[pid] = min(s, 1.0)  # hits arrive best first; rounding may overshoot 1
                        if len(best) == k:
                            break
                cands = tuple(Match(pid, float(s)) for pid, s in best.items())
                results.append(SearchResult(cands, self._threshold, self.model_id))
        return results

    def _nominate_and_rescore(self, st: State, q: np.ndarray, kt: int) -> tuple[np.ndarray, np.ndarray]:
        """IVF tier: the fast index nominates ``refine_factor``×``kt`` labels, 8-bit codes re-score them."""
        assert st.store is not None
        kc = min(st.templates, kt * self.config.refine_factor)
        _, labels = st.index.search(q, kc)
        valid = labels >= 0
        vecs = st.store.get(np.where(valid, labels, 0).reshape(-1)).reshape(q.shape[0], kc, self.dim)
        scores = np.einsum("qkd,qd->qk", vecs, q)
        scores[~valid] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")[:, :kt]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(labels, order, 1)

    # ---- persistence --------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the index atomically (crash-safe); searches continue meanwhile."""
        with self._mutate:  # no update slips in between the copy and the write
            with self._lock.read():
                st = self._state
                blob = faiss.serialize_index(st.index)
                pids = list(st.persons)
                slot = {p: i for i, p in enumerate(pids)}
                labels = np.fromiter((lab for p in pids for lab in st.persons[p]), dtype=np.int64)
                owners = np.fromiter((slot[p] for p in pids for _ in st.persons[p]), dtype=np.int32)
                aux = b""
                if st.store is not None:
                    aux = st.store.params().tobytes() + st.store.codes[labels].tobytes()
                manifest = {
                    "model_id": self.model_id,
                    "dim": self.dim,
                    "threshold": self._threshold,
                    "version": self._version,
                    "tier": st.kind,
                    "nlist": st.nlist,
                    "nprobe": st.nprobe,
                    "trained_at": st.trained_at,
                    "next_label": len(st.owners),
                    "persons": len(pids),
                    "config": self.config.model_dump(),
                }
            write_index_file(Path(path), manifest, blob, labels, owners, pids, aux)

    @classmethod
    def load(
        cls, path: str | Path, *, model_id: str | None = None, config: IndexConfig | None = None
    ) -> WhitelistIndex:
        """Load a file written by :meth:`save`; refuse it when ``model_id`` is given and differs."""
        path = Path(path)
        stored = read_index_file(path)
        m = stored.manifest
        try:
            saved_model = str(m["model_id"])
            dim = int(m["dim"])
            threshold = float(m["threshold"])
            cfg = config or IndexConfig.model_validate(m["config"])
            next_label = int(m["next_label"])
            kind: TierKind = "ivf" if m["tier"] == "ivf" else "exact"
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFileError(f"{path}: manifest field missing or invalid: {exc}") from exc
        if model_id is not None and model_id != saved_model:
            raise ModelMismatchError(f"{path}: index holds {saved_model!r} templates, expected {model_id!r}")
        index = faiss.deserialize_index(stored.faiss_bytes)
        n_tpl = int(stored.labels.shape[0])
        if index.d != dim or index.ntotal != n_tpl or (n_tpl and int(stored.labels.max()) >= next_label):
            raise IndexFileError(f"{path}: FAISS index does not match the manifest (dim/ntotal/labels)")
        store = None
        if kind == "ivf":
            n_params = 2 * dim * 4
            if len(stored.aux) != n_params + n_tpl * dim:
                raise IndexFileError(f"{path}: rerank codes have the wrong size")
            params = np.frombuffer(stored.aux[:n_params], dtype=np.float32)
            store = CodeStore.from_params(params, dim, next_label)
            codes = np.frombuffer(stored.aux[n_params:], dtype=np.uint8).reshape(n_tpl, dim)
            store.codes[stored.labels] = codes
            store.rows = next_label
        out = cls(saved_model, dim, threshold, cfg)
        owners: list[str | None] = [None] * next_label
        grouped: dict[str, list[int]] = {}
        for lab, slot in zip(stored.labels.tolist(), stored.owners.tolist(), strict=True):
            pid = stored.person_ids[slot]
            owners[lab] = pid
            grouped.setdefault(pid, []).append(lab)
        persons = {p: tuple(labs) for p, labs in grouped.items()}
        out._state = State(
            kind=kind,
            index=index,
            owners=owners,
            persons=persons,
            store=store,
            hist=Counter(len(v) for v in persons.values()),
            templates=n_tpl,
            trained_at=int(m.get("trained_at", 0)),
            nlist=int(m.get("nlist", 0)),
            nprobe=int(m.get("nprobe", 0)),
        )
        if kind == "ivf":
            faiss.extract_index_ivf(index).nprobe = out._state.nprobe
        out._version = int(m.get("version", 0))
        return out

    # ---- sizing -------------------------------------------------------------------------------------------

    def memory_bytes(self) -> dict[str, int]:
        """Approximate resident bytes: the FAISS index, the rerank codes and the Python id tables."""
        with self._lock.read():
            st = self._state
            faiss_b = int(faiss.serialize_index(st.index).nbytes)
            codes_b = int(st.store.codes.nbytes) if st.store is not None else 0
            py = sys.getsizeof(st.owners) + sys.getsizeof(st.persons)
            for pid, labs in st.persons.items():
                py += sys.getsizeof(pid) + sys.getsizeof(labs)
        return {"faiss": faiss_b, "rerank_codes": codes_b, "python": py, "total": faiss_b + codes_b + py}
