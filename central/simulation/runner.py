"""Run the simulated community day by day on a FakeClock and measure reconciliation.

Each appearance is decided the way an edge node decides it: the appearance's real photo
embedding is searched in a :class:`recognition.index.WhitelistIndex` of the registered
persons' enrolment photos; a match above the pack's threshold becomes a ``PassEvent`` for
the matched person (possibly the wrong one, as in life), anything else a ``StrangerEvent``
carrying the embedding. Events reach central through a :class:`Transport`: the real
gateway (edge outbox → MQTT → central consumer → store → ingest hook), or, for unit tests
only, :class:`DirectTransport`.

At the end of each simulated day the service rescores and a simulated police officer works
the queue with the ground truth: confirm true findings, reject the rest, merge duplicate
clusters of one person. The officer's actions are counted.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anju.clock import FakeClock
from central.reconciliation import review
from central.reconciliation.models import Candidate, FaceCluster, Sighting
from central.reconciliation.service import ReconciliationService, encode_embedding
from central.services.audit import Actor
from central.simulation.routines import Appearance, day_appearances
from central.simulation.world import MOVED_AWAY_TRUTH, Community, Role
from contracts.messages import Direction, PassEvent, PersonKind, StrangerEvent

log = logging.getLogger(__name__)

LOCAL = timezone(timedelta(hours=8))
START = datetime(2026, 3, 2, tzinfo=LOCAL)  # a Monday
OFFICER = Actor(None, "sim-officer", "police")


class Transport(Protocol):
    """Carries edge events into central and returns once central has stored and ingested them."""

    def send(self, events: list[Any]) -> None: ...

    def close(self) -> None: ...


class DirectTransport:
    """Unit-test path: hands events straight to the reconciliation service (no gateway)."""

    def __init__(self, sessions: sessionmaker[Session], svc: ReconciliationService) -> None:
        self._sessions = sessions
        self._svc = svc

    def send(self, events: list[Any]) -> None:
        with self._sessions.begin() as session:
            self._svc.ingest(session, events)

    def close(self) -> None:
        return None


class EdgeDecider:
    """The edge's 1:N decision with the real whitelist index."""

    def __init__(self, community: Community, threshold: float | None = None) -> None:
        from recognition.index import WhitelistIndex

        reg = [p for p in community.people if p.person_id is not None and p.enrol.size]
        dim = int(reg[0].enrol.shape[1]) if reg else 512
        self.threshold = threshold if threshold is not None else 0.45
        self.index = WhitelistIndex(community.model_id or "sim", dim, self.threshold)
        for p in reg:
            if p.person_id is not None:
                self.index.upsert(p.person_id, p.enrol)
        self.kind_of = {p.person_id: p for p in reg}

    def remove(self, person_id: str) -> None:
        self.index.remove(person_id)

    def decide(self, vector: Any) -> tuple[str | None, float]:
        res = self.index.search(vector, 1)
        best = res.best
        accepted = res.accepted
        return (accepted.person_id if accepted else None), (best.score if best else -1.0)


@dataclass
class Metrics:
    """Figures the benchmark prints."""

    figures: dict[str, Any] = field(default_factory=dict)


class Simulation:
    """Drives days, transports events, reviews the queue, keeps ground truth."""

    def __init__(
        self,
        community: Community,
        sessions: sessionmaker[Session],
        svc: ReconciliationService,
        clock: FakeClock,
        transport: Transport,
        *,
        review_queue: bool = True,
    ) -> None:
        self.c = community
        self.sessions = sessions
        self.svc = svc
        self.clock = clock
        self.transport = transport
        self.review_queue = review_queue
        self.rng = random.Random(community.config.seed * 7919 + 1)
        self.edge = EdgeDecider(community)
        self.people = {p.key: p for p in community.people}
        self.by_person_id = {p.person_id: p for p in community.people if p.person_id}
        self.event_owner: dict[str, str] = {}  # stranger event id -> person key (ground truth)
        self.seq: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.first_flagged: dict[str, float] = {}  # person key -> day flagged (occupant / moved)
        self.actions = Counter[str]()
        self.decisions: list[tuple[str, str, bool]] = []  # (kind, person key or "", correct)
        self._carry: list[Appearance] = []

    # ------------------------------------------------------------------ events
    def _event(self, a: Appearance) -> Any:
        p = self.people[a.person_key]
        vec = p.next_vector(self.rng)
        node = "node-gate" if a.zone_id == "gate" else f"node-{a.zone_id.split('-')[0]}"
        self.seq[node] += 1
        at = a.at_local.astimezone(timezone.utc)
        common = {
            "event_id": uuid.uuid4(),
            "site_id": self.c.site_id,
            "node_id": node,
            "seq": self.seq[node],
            "captured_at": at,
            "camera_id": a.camera_id,
            "zone_id": a.zone_id,
            "ring": a.ring,
            "direction": Direction(a.direction),
        }
        person_id, score = self.edge.decide(vec)
        if person_id is not None:
            matched = self.by_person_id.get(person_id)
            self.counts["pass"] += 1
            if matched is None or matched.key != p.key:
                self.counts["false_accept"] += 1
            return PassEvent(
                person_id=person_id,
                person_kind=PersonKind.tenant,
                door_id=a.camera_id,
                score=max(-1.0, min(1.0, score)),
                **common,
            )
        self.counts["stranger"] += 1
        if p.person_id is not None:
            self.counts["false_reject"] += 1
        ev = StrangerEvent(
            track_id=self.counts["stranger"],
            best_score=max(-1.0, min(1.0, score)),
            quality=round(self.rng.uniform(0.55, 0.95), 3),
            model_id=self.c.model_id[:64] or None,
            embedding_b64=encode_embedding(vec),
            **common,
        )
        self.event_owner[str(ev.event_id)] = p.key
        return ev

    def run_day(self, d: int) -> None:
        day = START + timedelta(days=d)
        nxt = day + timedelta(days=1)
        todays = sorted(self._carry + day_appearances(self.c, d, day, self.rng), key=lambda a: a.at_local)
        self._carry = [a for a in todays if a.at_local >= nxt]
        todays = [a for a in todays if a.at_local < nxt]
        # Hour by hour: the clock moves, the events of that hour go through the transport.
        for hour in range(24):
            end = day + timedelta(hours=hour + 1)
            batch = [self._event(a) for a in todays if day + timedelta(hours=hour) <= a.at_local < end]
            self.clock.set(end.astimezone(timezone.utc) - timedelta(seconds=1))
            if batch:
                self.transport.send(batch)
        with self.sessions.begin() as session:
            self.svc.rescore(session, self.c.site_id)
        if self.review_queue:
            self._review(d + 1)

    def run(self, days: int | None = None, on_day: Callable[[int], None] | None = None) -> None:
        start_utc = START.astimezone(timezone.utc)
        if self.clock.now() < start_utc:
            self.clock.set(start_utc)
        for d in range(days or self.c.config.days):
            self.run_day(d)
            if on_day is not None:
                on_day(d)

    # ------------------------------------------------------------ ground truth
    def cluster_owner(self, session: Session, cluster_id: str) -> tuple[str | None, int, int]:
        """Majority person key of a cluster's sightings, its count and the total."""
        ids = session.scalars(select(Sighting.event_id).where(Sighting.cluster_id == cluster_id)).all()
        owners = Counter(self.event_owner.get(e, "?") for e in ids)
        if not owners:
            return None, 0, 0
        key, n = owners.most_common(1)[0]
        return key, n, sum(owners.values())

    def _review(self, day_number: int) -> None:
        with self.sessions.begin() as session:
            # Merge first: open occupant candidates of one true person are one finding.
            open_occ = review.open_candidates(session, self.c.site_id, "occupant")
            groups: dict[str, list[Candidate]] = {}
            for cand in open_occ:
                owner, _, _ = self.cluster_owner(session, cand.subject_id)
                groups.setdefault(owner or "?", []).append(cand)
            for owner, cands in groups.items():
                if owner != "?" and len(cands) > 1 and self.people[owner].role == Role.occupant:
                    review.merge(
                        session,
                        self.svc,
                        self.c.site_id,
                        [c.subject_id for c in cands],
                        OFFICER,
                        note="same person",
                    )
                    self.actions["merge"] += 1
            self.svc.rescore(session, self.c.site_id)
            for cand in review.open_candidates(session, self.c.site_id):
                self._decide(session, cand, day_number)

    def _decide(self, session: Session, cand: Candidate, day_number: int) -> None:
        if cand.kind == "occupant":
            owner, _, _ = self.cluster_owner(session, cand.subject_id)
            p = self.people.get(owner or "")
            truth = p is not None and p.role == Role.occupant
            if truth and p is not None:
                self.first_flagged.setdefault(p.key, day_number)
                house = self.c.houses[p.house_index].house_id if p.house_index is not None else None
                review.confirm(
                    session,
                    self.svc,
                    cand.id,
                    OFFICER,
                    follow_up="visit",
                    house_id=cand.house_id or house,
                    note="走访核实",
                )
                self.actions["confirm"] += 1
            else:
                worker = p is not None and p.role in (Role.delivery, Role.helper)
                review.reject(
                    session,
                    self.svc,
                    cand.id,
                    OFFICER,
                    label="worker" if worker else "visitor",
                    note="非实住人员",
                )
                self.actions["reject"] += 1
            self.decisions.append(("occupant", owner or "", truth))
        else:
            p = self.by_person_id.get(cand.subject_id)
            truth = p is not None and p.role in MOVED_AWAY_TRUTH
            if truth and p is not None:
                self.first_flagged.setdefault(p.key, day_number)
                review.confirm(session, self.svc, cand.id, OFFICER, note="已搬离")
                self.edge.remove(cand.subject_id)
                self.actions["confirm"] += 1
            else:
                review.reject(session, self.svc, cand.id, OFFICER, label="present", note="仍居住")
                self.actions["reject"] += 1
            self.decisions.append(("moved_away", p.key if p else "", truth))

    def baseline(self) -> dict[str, Any]:
        """Naive rules on the same data, for comparison: a stranger cluster seen on at least 4 days
        is an occupant; a resident with no pass (any score) for 7 days has moved away."""
        from sqlalchemy import func

        from central.reconciliation.models import ResidentPresence

        now = self.clock.now()
        local_day = func.date(Sighting.at)
        with self.sessions() as session:
            flagged_owners = []
            for cid, days in session.execute(
                select(Sighting.cluster_id, func.count(func.distinct(local_day)))
                .where(Sighting.site_id == self.c.site_id)
                .group_by(Sighting.cluster_id)
            ).all():
                if days >= 4:
                    flagged_owners.append(self.cluster_owner(session, cid)[0])
            last = dict(
                session.execute(
                    select(ResidentPresence.person_id, func.max(ResidentPresence.last_at))
                    .where(ResidentPresence.site_id == self.c.site_id)
                    .group_by(ResidentPresence.person_id)
                ).all()
            )
        start = START.astimezone(timezone.utc)
        moved_flags = [
            p
            for p in self.c.people
            if p.person_id and now - (last.get(p.person_id) or start) >= timedelta(days=7)
        ]

        def pr(flags: list[bool], found: int, truth: int) -> dict[str, Any]:
            return {
                "flagged": len(flags),
                "precision": round(sum(flags) / len(flags), 4) if flags else 1.0,
                "recall": round(found / truth, 4) if truth else 1.0,
            }

        occ_truth = {p.key for p in self.c.people if p.role == Role.occupant}
        occ_flags = [o in occ_truth for o in flagged_owners]
        moved_truth = {p.key for p in self.c.people if p.role in MOVED_AWAY_TRUTH}
        return {
            "rule": "occupant: cluster seen on >= 4 days; moved away: no pass for 7 days",
            "occupant": pr(occ_flags, len({o for o in flagged_owners if o in occ_truth}), len(occ_truth)),
            "moved_away": pr(
                [p.key in moved_truth for p in moved_flags],
                len({p.key for p in moved_flags} & moved_truth),
                len(moved_truth),
            ),
        }

    def evaluate(self) -> dict[str, Any]:
        """Precision/recall per kind, cluster purity, time to discovery, actions per finding."""
        out: dict[str, Any] = {}
        for kind, truth_roles in (("occupant", {Role.occupant}), ("moved_away", MOVED_AWAY_TRUTH)):
            decided = [d for d in self.decisions if d[0] == kind]
            tp_people = {d[1] for d in decided if d[2]}
            fp = sum(1 for d in decided if not d[2])
            truth = [p for p in self.c.people if p.role in truth_roles]
            precision = len([d for d in decided if d[2]]) / len(decided) if decided else 1.0
            recall = len(tp_people) / len(truth) if truth else 1.0
            delays = []
            for p in truth:
                if p.key in self.first_flagged:
                    start = 0 if p.role in (Role.occupant, Role.moved_before) else (p.event_day or 0)
                    delays.append(self.first_flagged[p.key] - start)
            out[kind] = {
                "truth": len(truth),
                "flagged": len(decided),
                "true_positives": len(tp_people),
                "false_positives": fp,
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "days_to_discovery_mean": round(sum(delays) / len(delays), 2) if delays else None,
                "days_to_discovery_max": max(delays) if delays else None,
                "false_positive_roles": dict(
                    Counter(
                        self.people[d[1]].role.value if d[1] in self.people else "?"
                        for d in decided
                        if not d[2]
                    )
                ),
            }
        with self.sessions() as session:
            total = pure = 0
            clusters = 0
            for cid in session.scalars(
                select(FaceCluster.id).where(
                    FaceCluster.site_id == self.c.site_id, FaceCluster.status != "merged"
                )
            ):
                _, n, t = self.cluster_owner(session, cid)
                if t:
                    clusters += 1
                    pure += n
                    total += t
        strangers = {k for k in self.event_owner.values()}
        out["clusters"] = {
            "count": clusters,
            "purity": round(pure / total, 4) if total else None,
            "stranger_identities": len(strangers),
            "sightings": total,
        }
        found = sum(out[k]["true_positives"] for k in ("occupant", "moved_away"))
        actions = sum(self.actions.values())
        out["review"] = {
            "actions": dict(self.actions),
            "actions_per_true_finding": round(actions / found, 3) if found else None,
        }
        out["events"] = dict(self.counts)
        out["baseline"] = self.baseline()
        return out
