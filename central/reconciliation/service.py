"""Reconciliation service: ingest events, keep clusters and presence, score, fill the queue.

``ReconciliationService.ingest(session, events)`` is called with newly stored events (the
central ingest hook, or the simulation's direct path); ``rescore(session, site_id)`` scores
every cluster and resident and opens/updates review candidates. Decisions on candidates
live in :mod:`central.reconciliation.review`. The service never commits: the caller owns
the transaction.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from anju.clock import Clock
from central.db import new_id
from central.reconciliation.candidates import CandidateScoring
from central.reconciliation.clustering import Assignment, FaceClusterer
from central.reconciliation.config import ReconciliationConfig
from central.reconciliation.models import (
    Candidate,
    FaceCluster,
    MonitoringState,
    ResidentDoorPass,
    ResidentPresence,
)
from central.reconciliation.models import Sighting as SightingRow
from central.reconciliation.scoring import (
    BUILDING_RING,
)
from central.reconciliation.store import (
    LocationResolver,
    ZoneLocationResolver,
    from_bytes,
    load_site_clusters,
    new_cluster_row,
    to_bytes,
    write_cluster,
)
from contracts.messages import Credential, PassEvent, StrangerEvent

log = logging.getLogger(__name__)

EVIDENCE_TIMES = 20  # sighting times shown per candidate
SUPPRESSED_STATUSES = ("known_visitor", "known_worker", "confirmed")


@dataclass(frozen=True)
class IngestResult:
    sightings: int = 0
    new_clusters: int = 0
    merges: int = 0
    splits: int = 0
    passes: int = 0
    skipped: int = 0


def decode_embedding(value: str) -> np.ndarray:
    """The float32 vector of a ``StrangerEvent.embedding_b64``."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("embedding is not valid base64") from exc
    if len(raw) == 0 or len(raw) % 4:
        raise ValueError("embedding length is not a whole number of float32 values")
    out: np.ndarray = np.frombuffer(raw, dtype=np.float32).copy()
    return out


def encode_embedding(vector: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vector, dtype=np.float32).tobytes()).decode("ascii")


class ReconciliationService(CandidateScoring):
    """One per central process; holds each site's clusterer in memory (restored from the database)."""

    def __init__(
        self, config: ReconciliationConfig, clock: Clock, resolver: LocationResolver | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.resolver: LocationResolver = resolver or ZoneLocationResolver()
        self._clusterers: dict[str, FaceClusterer] = {}
        self._lock = threading.RLock()

    # --------------------------------------------------------------- clusters
    def clusterer(self, session: Session, site_id: str) -> FaceClusterer:
        with self._lock:
            c = self._clusterers.get(site_id)
            if c is None:
                c = FaceClusterer(self.config.clustering, new_id)
                live, aliases = load_site_clusters(session, site_id)
                c.load(live, aliases)
                self._clusterers[site_id] = c
            return c

    def forget(self, site_id: str | None = None) -> None:
        """Drop in-memory state (after a rollback, the next call reloads from the database)."""
        with self._lock:
            if site_id is None:
                self._clusterers.clear()
            else:
                self._clusterers.pop(site_id, None)

    # ----------------------------------------------------------------- ingest
    def ingest(self, session: Session, events: Sequence[Any]) -> IngestResult:
        """Take newly stored events (any kinds; only stranger and pass events matter)."""
        if not self.config.enabled:
            return IngestResult()
        counts = {"sightings": 0, "new_clusters": 0, "merges": 0, "splits": 0, "passes": 0, "skipped": 0}
        with self._lock:
            for ev in sorted(events, key=lambda e: e.captured_at):
                if isinstance(ev, StrangerEvent):
                    self._ingest_stranger(session, ev, counts)
                elif isinstance(ev, PassEvent):
                    self._ingest_pass(session, ev)
                    counts["passes"] += 1
                else:
                    continue
                self._touch_monitoring(session, ev.site_id, ev.captured_at)
            session.flush()
        return IngestResult(**counts)

    def _touch_monitoring(self, session: Session, site_id: str, at: datetime) -> None:
        state = session.get(MonitoringState, site_id)
        if state is None:
            session.add(MonitoringState(site_id=site_id, since=at, last_event_at=at))
            session.flush()
        elif at > state.last_event_at:
            state.last_event_at = at

    def _ingest_stranger(self, session: Session, ev: StrangerEvent, counts: dict[str, int]) -> None:
        if ev.embedding_b64 is None or ev.quality < self.config.clustering.min_quality:
            counts["skipped"] += 1
            return
        event_id = str(ev.event_id)
        if session.scalar(select(SightingRow.id).where(SightingRow.event_id == event_id)) is not None:
            counts["skipped"] += 1  # a redelivery
            return
        try:
            vector = decode_embedding(ev.embedding_b64)
            clusterer = self.clusterer(session, ev.site_id)
            assignment = clusterer.add(vector)
        except ValueError as exc:
            log.warning("stranger event %s: embedding ignored: %s", event_id, exc)
            counts["skipped"] += 1
            return
        now = ev.captured_at
        self._apply_assignment(session, ev.site_id, clusterer, assignment, now)
        loc = self.resolver.locate(session, ev.site_id, ev.camera_id, ev.zone_id)
        v = vector / max(float(np.linalg.norm(vector)), 1e-12)
        sighting = SightingRow(
            site_id=ev.site_id,
            cluster_id=assignment.cluster_id,
            event_id=event_id,
            at=ev.captured_at,
            node_id=ev.node_id,
            camera_id=ev.camera_id,
            zone_id=ev.zone_id,
            ring=ev.ring,
            direction=ev.direction.value,
            building_id=loc.building_id,
            unit=loc.unit,
            quality=ev.quality,
            embedding=to_bytes(v),
        )
        session.add(sighting)
        # With this sighting stored, a split re-divides every sighting (this one included).
        for new in assignment.split:
            self._reassign_split(session, clusterer, assignment.cluster_id, new)
        row = session.get(FaceCluster, sighting.cluster_id)
        if row is not None:
            row.last_seen = max(row.last_seen, ev.captured_at)
            row.first_seen = min(row.first_seen, ev.captured_at)
            if (
                self.config.keep_thumbnails
                and ev.snapshot is not None
                and (row.thumbnail is None or ev.quality > row.thumbnail_quality)
            ):
                row.thumbnail = ev.snapshot.jpeg()
                row.thumbnail_quality = ev.quality
        counts["sightings"] += 1
        counts["new_clusters"] += int(assignment.created) + len(assignment.split)
        counts["merges"] += len(assignment.merged)
        counts["splits"] += len(assignment.split)

    def _apply_assignment(
        self, session: Session, site_id: str, clusterer: FaceClusterer, a: Assignment, at: datetime
    ) -> None:
        for absorbed in a.merged:
            self._record_merge(session, a.cluster_id, absorbed, at)
        touched = [a.cluster_id, *a.split]
        for cid in touched:
            c = clusterer.clusters[cid]
            row = session.get(FaceCluster, cid)
            if row is None:
                session.add(new_cluster_row(site_id, c, at))
                session.flush()
            else:
                write_cluster(row, c)
                row.updated_at = at

    def _record_merge(self, session: Session, keep: str, absorbed: str, at: datetime) -> None:
        """Move rows of a merged cluster to the survivor (used by automatic and police merges)."""
        session.flush()
        old = session.get(FaceCluster, absorbed)
        new = session.get(FaceCluster, keep)
        if old is None or new is None:
            return
        for s in session.scalars(select(SightingRow).where(SightingRow.cluster_id == absorbed)):
            s.cluster_id = keep
        new.first_seen = min(new.first_seen, old.first_seen)
        new.last_seen = max(new.last_seen, old.last_seen)
        if old.thumbnail is not None and old.thumbnail_quality > new.thumbnail_quality:
            new.thumbnail, new.thumbnail_quality = old.thumbnail, old.thumbnail_quality
        if old.status in SUPPRESSED_STATUSES and new.status == "active":
            # A reviewed decision (known visitor, confirmed person) carries over to the survivor.
            new.status, new.person_id = old.status, old.person_id
        old.status, old.merged_into, old.updated_at = "merged", keep, at
        for cand in session.scalars(
            select(Candidate).where(Candidate.subject_id == absorbed, Candidate.status == "open")
        ):
            cand.status, cand.decision, cand.updated_at = "merged", f"merged into {keep}", at
        for row in session.scalars(select(FaceCluster).where(FaceCluster.merged_into == absorbed)):
            row.merged_into = keep

    def _reassign_split(self, session: Session, clusterer: FaceClusterer, source: str, new: str) -> None:
        """Give each sighting of ``source`` to whichever of the two centroids it is nearer."""
        session.flush()
        rows = list(session.scalars(select(SightingRow).where(SightingRow.cluster_id == source)))
        if not rows:
            return
        a, b = clusterer.clusters[source], clusterer.clusters[new]
        vecs = np.vstack([from_bytes(r.embedding, a.exemplars.shape[1]) for r in rows])
        to_new = (vecs @ b.centroid) > (vecs @ a.centroid)
        if not to_new.any() or to_new.all():
            return
        for r, moved in zip(rows, to_new, strict=True):
            if moved:
                r.cluster_id = new
        clusterer.restate(source, vecs[~to_new])
        clusterer.restate(new, vecs[to_new])
        for cid in (source, new):
            row = session.get(FaceCluster, cid)
            if row is not None:
                write_cluster(row, clusterer.clusters[cid])
                times = [r.at for r, m in zip(rows, to_new, strict=True) if bool(m) == (cid == new)]
                row.first_seen, row.last_seen = min(times), max(times)

    def _ingest_pass(self, session: Session, ev: PassEvent) -> None:
        local = ev.captured_at + timedelta(hours=self.config.occupant.utc_offset_hours)
        key = (ev.site_id, ev.person_id, local.date())
        score = 1.0 if ev.credential != Credential.face or ev.score is None else ev.score
        row = session.get(ResidentPresence, key)
        if row is None:
            session.add(
                ResidentPresence(
                    site_id=ev.site_id,
                    person_id=ev.person_id,
                    day=local.date(),
                    first_at=ev.captured_at,
                    last_at=ev.captured_at,
                    passes=1,
                    best_score=score,
                )
            )
            session.flush()
        else:
            row.passes += 1
            row.best_score = max(row.best_score, score)
            row.first_at = min(row.first_at, ev.captured_at)
            row.last_at = max(row.last_at, ev.captured_at)
        # Every face pass is kept for the window: ring-3 ones give co-occurrence, all of them
        # tell when a stranger cluster is really a resident the gates matched elsewhere on a trip.
        if ev.credential == Credential.face or ev.ring == BUILDING_RING:
            loc = self.resolver.locate(session, ev.site_id, ev.camera_id, ev.zone_id)
            session.add(
                ResidentDoorPass(
                    site_id=ev.site_id,
                    at=ev.captured_at,
                    camera_id=ev.camera_id,
                    person_id=ev.person_id,
                    household_id=self._household_of(session, ev.person_id),
                    building_id=loc.building_id,
                    unit=loc.unit,
                )
            )

    def _household_of(self, session: Session, person_id: str) -> str | None:
        from central.models.registry import Person

        return session.scalar(select(Person.household_id).where(Person.id == person_id))

    # ---------------------------------------------------------------- upkeep
    def purge(self, session: Session, site_ids: Iterable[str] | None = None) -> int:
        """Delete sightings and door passes older than the retention period."""
        cutoff = self.clock.now() - timedelta(days=self.config.sighting_retention_days)
        res = session.execute(delete(SightingRow).where(SightingRow.at < cutoff))
        n = getattr(res, "rowcount", 0) or 0
        session.execute(delete(ResidentDoorPass).where(ResidentDoorPass.at < cutoff))
        return int(n)
