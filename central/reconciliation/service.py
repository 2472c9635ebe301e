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
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from anju.clock import Clock
from central.db import new_id
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
    PresenceHistory,
    ResidentPass,
    Sighting,
    score_moved_away,
    score_occupant,
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


@dataclass(frozen=True)
class RescoreResult:
    opened: int
    updated: int
    occupant_open: int
    moved_away_open: int


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


class ReconciliationService:
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
        session.add(
            SightingRow(
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
        )
        row = session.get(FaceCluster, assignment.cluster_id)
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
        for new in a.split:
            self._reassign_split(session, clusterer, a.cluster_id, new)

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
        if ev.ring == BUILDING_RING:
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

    # ---------------------------------------------------------------- scoring
    def rescore(self, session: Session, site_id: str) -> RescoreResult:
        """Score clusters and residents of a site; open or refresh review candidates."""
        now = self.clock.now()
        opened = updated = 0
        o, u = self._rescore_occupants(session, site_id, now)
        opened, updated = opened + o, updated + u
        o, u = self._rescore_moved_away(session, site_id, now)
        opened, updated = opened + o, updated + u
        session.flush()
        counts = dict(
            session.execute(
                select(Candidate.kind, func.count())
                .where(Candidate.site_id == site_id, Candidate.status == "open")
                .group_by(Candidate.kind)
            ).all()
        )
        return RescoreResult(
            opened, updated, int(counts.get("occupant", 0)), int(counts.get("moved_away", 0))
        )

    def _existing(self, session: Session, site_id: str, kind: str) -> dict[str, list[Candidate]]:
        out: dict[str, list[Candidate]] = {}
        for c in session.scalars(
            select(Candidate).where(Candidate.site_id == site_id, Candidate.kind == kind)
        ):
            out.setdefault(c.subject_id, []).append(c)
        return out

    def _rescore_occupants(self, session: Session, site_id: str, now: datetime) -> tuple[int, int]:
        cfg = self.config.occupant
        start = now - timedelta(days=cfg.window_days)
        clusters = {
            r.id: r
            for r in session.scalars(
                select(FaceCluster).where(
                    FaceCluster.site_id == site_id,
                    FaceCluster.status == "active",
                    FaceCluster.last_seen >= start,
                )
            )
        }
        by_cluster: dict[str, list[Sighting]] = {}
        rows = session.execute(
            select(
                SightingRow.cluster_id,
                SightingRow.at,
                SightingRow.camera_id,
                SightingRow.ring,
                SightingRow.direction,
                SightingRow.building_id,
                SightingRow.unit,
            ).where(SightingRow.site_id == site_id, SightingRow.at >= start)
        ).all()
        for cid, at, cam, ring, direction, building, unit in rows:
            if cid in clusters:
                by_cluster.setdefault(cid, []).append(Sighting(at, cam, ring, direction, building, unit))
        passes = [
            ResidentPass(p.at, p.camera_id, p.household_id, p.building_id, p.unit)
            for p in session.scalars(
                select(ResidentDoorPass).where(
                    ResidentDoorPass.site_id == site_id, ResidentDoorPass.at >= start
                )
            )
        ]
        rental = self._rental_buildings(session, site_id)
        existing = self._existing(session, site_id, "occupant")
        opened = updated = 0
        for cid, sightings in by_cluster.items():
            sc = score_occupant(sightings, now, cfg, passes, rental)
            prior = existing.get(cid, [])
            open_c = next((c for c in prior if c.status == "open"), None)
            if any(c.status in ("rejected", "confirmed") for c in prior):
                continue
            if sc.score < cfg.candidate_threshold and open_c is None:
                continue
            house_id, household_id = self._link_house(
                session, site_id, sc.linked_household_id, sc.dominant_building_id
            )
            evidence = {
                "cluster_label": clusters[cid].label,
                "days_seen": sc.days_seen,
                "night_days": sc.night_days,
                "concentration": sc.concentration,
                "buildings_seen": sc.buildings_seen,
                "unit": sc.dominant_unit,
                "cooccurrence_days": sc.cooccurrence_days,
                "rental_linked": sc.rental_linked,
                "first_seen": sc.first_seen.isoformat() if sc.first_seen else None,
                "last_seen": sc.last_seen.isoformat() if sc.last_seen else None,
                "times": [s.at.isoformat() for s in sorted(sightings, key=lambda s: s.at)[-EVIDENCE_TIMES:]],
                "doors": sorted({s.camera_id for s in sightings}),
                "thumbnail": clusters[cid].thumbnail is not None,
                "features": {k: round(v, 3) for k, v in sc.features.items()},
            }
            if open_c is None:
                session.add(
                    Candidate(
                        site_id=site_id,
                        kind="occupant",
                        subject_id=cid,
                        status="open",
                        score=sc.score,
                        evidence=evidence,
                        building_id=sc.dominant_building_id,
                        house_id=house_id,
                        household_id=household_id,
                        first_flagged_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                opened += 1
            else:
                open_c.score, open_c.evidence, open_c.updated_at = sc.score, evidence, now
                open_c.building_id, open_c.house_id, open_c.household_id = (
                    sc.dominant_building_id,
                    house_id,
                    household_id,
                )
                updated += 1
        return opened, updated

    def _rental_buildings(self, session: Session, site_id: str) -> set[tuple[str, str]]:
        """(building, unit-key) pairs that hold a rental house; the unit key is matched loosely."""
        from central.models.registry import House

        out: set[tuple[str, str]] = set()
        zone_units = self._zone_units(session, site_id)
        for building_id, unit in session.execute(
            select(House.building_id, House.unit).where(House.site_id == site_id, House.usage == "rental")
        ).all():
            for zone_code in zone_units.get((building_id, unit), [unit]):
                out.add((building_id, zone_code))
        return out

    def _zone_units(self, session: Session, site_id: str) -> dict[tuple[str, str], list[str]]:
        """Ring-3 zones per building; a zone whose code ends with ``-<unit>`` is that unit's entrance."""
        from central.models.zones import Zone

        out: dict[tuple[str, str], list[str]] = {}
        for code, building_id in session.execute(
            select(Zone.code, Zone.building_id).where(Zone.site_id == site_id, Zone.ring == BUILDING_RING)
        ).all():
            if building_id is None:
                continue
            unit = code.rsplit("-", 1)[-1].lstrip("uU")
            out.setdefault((building_id, unit), []).append(code)
        return out

    def _link_house(
        self, session: Session, site_id: str, household_id: str | None, building_id: str | None
    ) -> tuple[str | None, str | None]:
        from central.models.registry import House, Household

        if household_id is not None:
            hh = session.get(Household, household_id)
            if hh is not None:
                return hh.house_id, hh.id
        if building_id is not None:
            house = session.scalars(
                select(House).where(
                    House.site_id == site_id, House.building_id == building_id, House.usage == "rental"
                )
            ).first()
            if house is not None:
                return house.id, None
        return None, None

    def presence_histories(self, session: Session, site_id: str, now: datetime) -> list[PresenceHistory]:
        from central.models.registry import Person

        state = session.get(MonitoringState, site_id)
        if state is None:
            return []
        stats = {
            pid: (int(n), last)
            for pid, n, last in session.execute(
                select(ResidentPresence.person_id, func.count(), func.max(ResidentPresence.last_at))
                .where(
                    ResidentPresence.site_id == site_id,
                    ResidentPresence.best_score >= self.config.moved_away.confident_pass_score,
                )
                .group_by(ResidentPresence.person_id)
            ).all()
        }
        out = []
        for p in session.scalars(
            select(Person).where(
                Person.site_id == site_id, Person.status == "active", Person.kind != "visitor"
            )
        ):
            n, last = stats.get(p.id, (0, None))
            observed = max(state.since, p.created_at) if p.created_at else state.since
            observed = min(observed, now)
            out.append(PresenceHistory(p.id, n, observed, last, bool(p.elderly_alone or p.dementia)))
        return out

    def _rescore_moved_away(self, session: Session, site_id: str, now: datetime) -> tuple[int, int]:
        cfg = self.config.moved_away
        existing = self._existing(session, site_id, "moved_away")
        opened = updated = 0
        for h in self.presence_histories(session, site_id, now):
            sc = score_moved_away(h, now, cfg)
            prior = existing.get(h.person_id, [])
            open_c = next((c for c in prior if c.status == "open"), None)
            last_decided = max((c.decided_at for c in prior if c.decided_at is not None), default=None)
            if last_decided is not None and (h.last_seen is None or h.last_seen <= last_decided):
                continue  # decided already; a new candidate needs a new absence after being seen again
            evidence = {
                "absent_days": sc.absent_days,
                "last_seen": h.last_seen.isoformat() if h.last_seen else None,
                "days_seen": h.days_seen,
                "usual_days_ratio": sc.usual_days_ratio,
                "special_care": h.special_care,
            }
            if open_c is not None:
                if h.last_seen is not None and now - h.last_seen < timedelta(days=1):
                    open_c.status, open_c.decision, open_c.updated_at = "withdrawn", "seen again", now
                else:
                    open_c.score, open_c.evidence, open_c.updated_at = sc.score, evidence, now
                updated += 1
                continue
            if not sc.eligible or sc.score < cfg.candidate_threshold:
                continue
            house_id, household_id = self._person_house(session, h.person_id)
            session.add(
                Candidate(
                    site_id=site_id,
                    kind="moved_away",
                    subject_id=h.person_id,
                    status="open",
                    score=sc.score,
                    evidence=evidence,
                    house_id=house_id,
                    household_id=household_id,
                    first_flagged_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            opened += 1
        return opened, updated

    def _person_house(self, session: Session, person_id: str) -> tuple[str | None, str | None]:
        from central.models.registry import Household, Person

        p = session.get(Person, person_id)
        if p is None or p.household_id is None:
            return None, None
        hh = session.get(Household, p.household_id)
        return (hh.house_id if hh else None), p.household_id

    # ---------------------------------------------------------------- upkeep
    def purge(self, session: Session, site_ids: Iterable[str] | None = None) -> int:
        """Delete sightings and door passes older than the retention period."""
        cutoff = self.clock.now() - timedelta(days=self.config.sighting_retention_days)
        res = session.execute(delete(SightingRow).where(SightingRow.at < cutoff))
        n = getattr(res, "rowcount", 0) or 0
        session.execute(delete(ResidentDoorPass).where(ResidentDoorPass.at < cutoff))
        return int(n)
