"""The node's cached whitelist: person rules plus the FAISS index of their templates.

Snapshots and deltas arrive verified from the gateway (or, at first start, from
the on-disk cache). The person records (kind, windows, validity, watchlist
category) stay here; the vectors go into :class:`recognition.index.WhitelistIndex`.
Every applied change is written to the :class:`~edge.privacy.TemplateStore`
(AES-GCM when a site key is configured) so a box that reboots without network
still opens for its residents.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime

import numpy as np

from anju.clock import Clock
from contracts.whitelist import WhitelistDelta, WhitelistPerson, WhitelistSnapshot
from edge.privacy import TemplateStore
from recognition.index import WhitelistIndex
from recognition.types import SearchResult

log = logging.getLogger(__name__)


class LocalWhitelist:
    """Thread-safe: workers search while the gateway thread applies updates."""

    def __init__(
        self,
        site_id: str,
        model_id: str,
        dim: int,
        threshold: float,
        clock: Clock,
        store: TemplateStore | None,
    ) -> None:
        self.site_id = site_id
        self.model_id = model_id
        self.clock = clock
        self.index = WhitelistIndex(model_id, dim, threshold)
        self.store = store
        self._persons: dict[str, WhitelistPerson] = {}
        self._lock = threading.Lock()
        self.issued_at: datetime | None = None
        self._listeners: list[Callable[[int], None]] = []

    @property
    def version(self) -> int:
        return self.index.version

    @property
    def persons(self) -> dict[str, WhitelistPerson]:
        """The current person records (a dict replaced, never mutated, on updates)."""
        return self._persons

    def on_applied(self, callback: Callable[[int], None]) -> None:
        self._listeners.append(callback)

    def age_s(self) -> float:
        """Seconds since central issued the list the node runs (inf when it has none)."""
        if self.issued_at is None:
            return float("inf")
        return max(0.0, (self.clock.now() - self.issued_at).total_seconds())

    def search(self, vector: np.ndarray, k: int = 3) -> SearchResult:
        return self.index.search(vector, k)

    def _vectors(self, person: WhitelistPerson) -> np.ndarray:
        vecs = [t.vector() for t in person.templates if t.model_id == self.model_id]
        if len(vecs) < len(person.templates):
            log.warning(
                "person %s: %d template(s) from another model ignored",
                person.person_id,
                len(person.templates) - len(vecs),
            )
        if not vecs:
            return np.zeros((0, self.index.dim), dtype=np.float32)
        return np.stack(vecs).astype(np.float32)

    def apply(self, message: WhitelistSnapshot | WhitelistDelta, *, persist: bool = True) -> None:
        """Apply a verified snapshot or delta; raises the index's errors (e.g. version conflict)."""
        if message.site_id != self.site_id:
            raise ValueError(f"whitelist for site {message.site_id}, this node is {self.site_id}")
        with self._lock:
            if isinstance(message, WhitelistSnapshot):
                if message.model_id != self.model_id:
                    raise ValueError(
                        f"whitelist built for model {message.model_id}, this node runs {self.model_id}"
                    )
                entries = {p.person_id: self._vectors(p) for p in message.persons}
                self.index.apply_snapshot(entries, message.version)
                self._persons = {p.person_id: p for p in message.persons}
            else:
                ups = {p.person_id: self._vectors(p) for p in message.upserts}
                self.index.apply_delta(ups, message.removals, message.base_version, message.version)
                persons = dict(self._persons)
                for pid in message.removals:
                    persons.pop(pid, None)
                persons.update({p.person_id: p for p in message.upserts})
                self._persons = persons
            self.issued_at = message.issued_at
            if persist:
                self._persist()
        log.info("whitelist v%d applied: %d persons", self.version, len(self._persons))
        for cb in self._listeners:
            try:
                cb(self.version)
            except Exception:
                log.exception("whitelist listener failed")

    def _persist(self) -> None:
        if self.store is None or self.issued_at is None:
            return
        snap = WhitelistSnapshot(
            site_id=self.site_id,
            version=max(1, self.version),
            issued_at=self.issued_at,
            model_id=self.model_id,
            persons=list(self._persons.values()),
        )
        self.store.save(snap.model_dump_json().encode("utf-8"))

    def load_cached(self) -> bool:
        """Apply the on-disk cache; True when one was found."""
        if self.store is None:
            return False
        data = self.store.load()
        if data is None:
            return False
        snap = WhitelistSnapshot.model_validate(json.loads(data))
        if snap.model_id != self.model_id:
            log.warning("cached whitelist is for model %s, not %s: ignored", snap.model_id, self.model_id)
            return False
        self.apply(snap, persist=False)
        return True
