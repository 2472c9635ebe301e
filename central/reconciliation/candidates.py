"""Scoring of a site's clusters and residents into review candidates (the queue's contents).

Mixed into :class:`central.reconciliation.service.ReconciliationService`; every method takes the
caller's session and never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anju.clock import Clock
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
    registered_self_link,
    score_moved_away,
    score_occupant,
)

EVIDENCE_TIMES = 20  # sighting times shown per candidate
log = logging.getLogger(__name__)


class RegisteredFaces:
    """Enrolled face templates of a site's active residents (under a valid consent)."""

    def __init__(self, person_ids: list[str], matrix: np.ndarray) -> None:
        self.person_ids = person_ids
        self.matrix = matrix

    @classmethod
    def load(cls, session: Session, site_id: str) -> RegisteredFaces:
        from central.models.biometrics import Consent, FaceTemplate
        from central.models.registry import Person

        rows = session.execute(
            select(FaceTemplate.person_id, FaceTemplate.dim, FaceTemplate.vector)
            .join(Consent, Consent.id == FaceTemplate.consent_id)
            .join(Person, Person.id == FaceTemplate.person_id)
            .where(FaceTemplate.site_id == site_id, Consent.withdrawn_at.is_(None), Person.status == "active")
        ).all()
        ids, vecs = [], []
        for pid, dim, raw in rows:
            v = np.frombuffer(raw, dtype=np.float32)
            if v.size == dim and dim > 0:
                ids.append(pid)
                vecs.append(v / max(float(np.linalg.norm(v)), 1e-12))
        return cls(ids, np.vstack(vecs) if vecs else np.zeros((0, 0), dtype=np.float32))

    def resembles(self, cluster: FaceCluster, threshold: float) -> str | None:
        """The registered person the cluster's centroid is at least ``threshold`` similar to, if any."""
        if not self.person_ids or self.matrix.shape[1] != cluster.dim:
            return None
        centroid = np.frombuffer(cluster.vector_sum, dtype=np.float32)
        centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
        sims = self.matrix @ centroid
        best = int(np.argmax(sims))
        return self.person_ids[best] if float(sims[best]) >= threshold else None


@dataclass(frozen=True)
class RescoreResult:
    opened: int
    updated: int
    occupant_open: int
    moved_away_open: int


class CandidateScoring:
    config: ReconciliationConfig
    clock: Clock

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
            ResidentPass(p.at, p.camera_id, p.household_id, p.building_id, p.unit, p.person_id)
            for p in session.scalars(
                select(ResidentDoorPass).where(
                    ResidentDoorPass.site_id == site_id, ResidentDoorPass.at >= start
                )
            )
        ]
        rental = self._rental_buildings(session, site_id)
        reported = self._reported_units(session, site_id)
        registered = RegisteredFaces.load(session, site_id)
        existing = self._existing(session, site_id, "occupant")
        opened = updated = 0
        for cid, sightings in by_cluster.items():
            sc = score_occupant(sightings, now, cfg, passes, rental, reported)
            prior = existing.get(cid, [])
            open_c = next((c for c in prior if c.status == "open"), None)
            if any(c.status in ("rejected", "confirmed") for c in prior):
                continue
            if sc.score < cfg.candidate_threshold and open_c is None:
                continue
            resembles = registered.resembles(clusters[cid], cfg.registered_resemblance)
            if resembles is None:
                linked, share, n = registered_self_link(sightings, passes)
                if linked is not None and share >= cfg.self_link_share and n >= cfg.min_days_seen:
                    resembles = linked
            if resembles is not None:
                # A registered resident whose face the gates failed to match (poor enrolment
                # photo, new glasses…): a re-enrolment matter, not an unregistered occupant.
                log.info("cluster %s resembles registered person %s; not queued", cid, resembles)
                if open_c is not None:
                    open_c.status, open_c.decision, open_c.updated_at = (
                        "withdrawn",
                        f"resembles {resembles}",
                        now,
                    )
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

    def _reported_units(self, session: Session, site_id: str) -> set[tuple[str, str]]:
        """Units whose rental house's latest QR visit reported more occupants than are registered there."""
        from central.models.registry import House, Household, Person
        from central.reconciliation.models import HouseVisit

        latest: dict[str, HouseVisit] = {}
        for v in session.scalars(
            select(HouseVisit).where(
                HouseVisit.site_id == site_id, HouseVisit.occupants_reported.is_not(None)
            )
        ):
            if v.house_id not in latest or v.at > latest[v.house_id].at:
                latest[v.house_id] = v
        if not latest:
            return set()
        zone_units = self._zone_units(session, site_id)
        out: set[tuple[str, str]] = set()
        for house_id, visit in latest.items():
            house = session.get(House, house_id)
            if house is None:
                continue
            registered = session.scalar(
                select(func.count())
                .select_from(Person)
                .join(Household, Household.id == Person.household_id)
                .where(Household.house_id == house_id, Person.status == "active")
            )
            if (visit.occupants_reported or 0) > (registered or 0):
                for zone_code in zone_units.get((house.building_id, house.unit), [house.unit]):
                    out.add((house.building_id, zone_code))
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
