"""Door decisions from multi-frame evidence and local access rules.

A track collects one observation per embedded frame (best candidate, score,
liveness). A person is decided only when ``min_consistent_matches``
observations within ``evidence_window_s`` have the same person as their top-1
candidate, one of them at or above the match threshold (T_hi) and the others at
or above T_lo = T_hi − ``consistent_margin`` (calibrated on LFW, see
docs/edge.md; 0 = every look at or above the threshold), which keeps one lucky
frame from opening a door. Watchlisted people are checked first and only at
their own threshold: looks below it never count for them. Optionally
(``pooling``, off by default) N looks with the same top-1 person may also match
through their pooled template at a higher threshold (see docs/edge.md for the
LFW comparison that sets it). Rules are local
(the cached whitelist): validity, access windows by ring/zone/weekday/time, the
camera's direction (egress is never blocked by windows) and the age of the
cached list. Nothing here touches a network.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from zoneinfo import ZoneInfo

import numpy as np

from contracts.messages import PersonKind
from contracts.whitelist import WhitelistPerson
from edge.config import DecisionConfig

log = logging.getLogger(__name__)

RESIDENT_KINDS = frozenset({PersonKind.owner, PersonKind.tenant, PersonKind.family, PersonKind.staff})


class Outcome(str, Enum):
    open = "open"  # resident/tenant/staff: door opens
    visitor = "visitor"  # valid visitor: door opens, visitor event
    denied = "denied"  # known person outside their rules: no open
    stranger = "stranger"  # nobody on the whitelist
    watchlist = "watchlist"  # alert, never open
    liveness_failure = "liveness_failure"  # deny + alert


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    person_id: str | None
    person_kind: PersonKind | None
    score: float
    reason: str
    decided_at: float
    looks: int = 1  # observations (embedded frames) of the track behind the decision
    pooled: bool = False  # decided by the track's pooled template, not by single looks above threshold
    consistent: bool = False  # decided with a look below the threshold (≥ threshold − consistent_margin)

    @property
    def opens(self) -> bool:
        return self.outcome in (Outcome.open, Outcome.visitor)


@dataclass(frozen=True)
class Observation:
    at: float
    person_id: str | None  # best candidate above the threshold, else None
    score: float  # best candidate's score (even below threshold)
    live: bool | None  # None when liveness was not checked
    liveness_score: float = 0.0
    candidate_id: str | None = None  # best candidate whatever its score (pooling groups looks by it)
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)  # the look's embedding


PoolScorer = Callable[[Sequence[np.ndarray]], tuple[str | None, float]]
"""Scores a track's pooled template: (top-1 person if at or above the pooled threshold, else None; score)."""


def pool_vectors(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Template pooling: the mean of the L2-normalised embeddings, re-normalised."""
    stacked = np.asarray(vectors, dtype=np.float32)
    stacked = stacked / np.maximum(np.linalg.norm(stacked, axis=1, keepdims=True), 1e-12)
    mean = stacked.mean(axis=0)
    out: np.ndarray = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


@dataclass
class CameraContext:
    """Where a decision is taken (from the camera's config)."""

    ring: int
    zone_id: str | None
    direction: str  # "in" | "out" | "unknown"


@dataclass
class TrackEvidence:
    """Observations of one track, oldest first."""

    first_at: float
    observations: deque[Observation] = field(default_factory=lambda: deque(maxlen=64))

    def add(self, obs: Observation) -> None:
        self.observations.append(obs)

    def recent(self, now: float, window_s: float) -> list[Observation]:
        return [o for o in self.observations if now - o.at <= window_s]

    def forget_vectors(self) -> None:
        """Drop the looks' embeddings (biometric data) once the track is decided."""
        self.observations = deque(
            (replace(o, vector=None) for o in self.observations), maxlen=self.observations.maxlen
        )


class AccessRules:
    """Whether a known person may pass here and now, by the cached whitelist's rules."""

    def __init__(self, tz: str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(tz)

    def check(self, person: WhitelistPerson, ctx: CameraContext, now: datetime) -> tuple[bool, str]:
        if person.kind == PersonKind.watchlist:
            return False, "watchlist"
        if person.valid_from is not None and now < person.valid_from:
            return False, "not_yet_valid"
        if person.valid_until is not None and now >= person.valid_until:
            return False, "expired"
        if ctx.direction == "out":
            return True, "egress"  # leaving is never blocked by access windows (fire/safety)
        if not person.windows:
            # No explicit windows: residents everywhere on rings 1-3; visitors need a window/pass.
            if person.kind in RESIDENT_KINDS and ctx.ring <= 3:
                return True, "resident"
            return False, "no_access_window"
        local = now.astimezone(self.tz)
        for win in person.windows:
            if ctx.ring not in win.rings:
                continue
            if win.zone_ids and (ctx.zone_id is None or ctx.zone_id not in win.zone_ids):
                continue
            if local.weekday() not in win.weekdays:
                continue
            t = local.time().replace(tzinfo=None)
            inside = win.start <= t <= win.end if win.start <= win.end else (t >= win.start or t <= win.end)
            if inside:
                return True, "window"
        return False, "outside_access_window"


class DecisionMaker:
    """Turns a track's evidence into at most one :class:`Decision`."""

    def __init__(
        self, cfg: DecisionConfig, rules: AccessRules, *, match_threshold: float | None = None
    ) -> None:
        """``match_threshold`` (T_hi, the one the worker applied to ``Observation.person_id``) enables the
        consistent-look rule's lower bound T_lo = T_hi − ``consistent_margin``; without it every counted
        look must be at or above the threshold."""
        self.cfg = cfg
        self.rules = rules
        self.t_lo: float | None = (
            match_threshold - cfg.consistent_margin
            if match_threshold is not None and cfg.consistent_margin > 0
            else None
        )

    def _consistent_looks(
        self, obs: list[Observation], hits: list[Observation], pid: str
    ) -> list[Observation]:
        """The person's looks at or above the threshold plus those in [T_lo, T_hi) with them as top-1."""
        t_lo = self.t_lo
        if t_lo is None:
            return hits
        return [
            o
            for o in obs
            if o.person_id == pid or (o.person_id is None and o.candidate_id == pid and o.score >= t_lo)
        ]

    def decide(
        self,
        evidence: TrackEvidence,
        *,
        now_mono: float,
        now_wall: datetime,
        ctx: CameraContext,
        lookup: dict[str, WhitelistPerson] | None,
        whitelist_fresh: bool,
        pool: PoolScorer | None = None,
    ) -> Decision | None:
        """A decision, or None while the evidence is not yet sufficient.

        With ``pool`` (and ``pooling`` on), a person is also matched when at least
        ``min_consistent_matches`` recent live looks name them as their top-1 candidate and the
        pooled template of those looks scores at or above the pooled threshold (``pool`` applies it).
        """
        obs = evidence.recent(now_mono, self.cfg.evidence_window_s)
        if not obs:
            return None
        failed = [o for o in obs if o.live is False]
        if self.cfg.require_liveness and len(failed) >= self.cfg.liveness_failures_to_deny:
            claimed = _mode([o.person_id for o in failed if o.person_id])
            return Decision(
                Outcome.liveness_failure,
                claimed,
                None,
                max(o.liveness_score for o in failed),
                "liveness_failed",
                now_mono,
            )
        counts: dict[str, list[Observation]] = {}
        for o in obs:
            if o.person_id is not None:
                counts.setdefault(o.person_id, []).append(o)
        people = lookup or {}

        def watchlisted(pid: str) -> bool:
            person = people.get(pid)
            return person is not None and person.kind == PersonKind.watchlist

        # Consistent looks: a person with a look at or above the threshold also counts their looks just
        # below it (≥ T_lo, same top-1). Never for the watchlist: its hits stay at their own threshold.
        above = {pid: len(hits) for pid, hits in counts.items()}
        for pid in list(counts):
            if not watchlisted(pid):
                counts[pid] = self._consistent_looks(obs, counts[pid], pid)
        pooled = self._pooled(obs, counts, pool) if self.cfg.pooling and pool is not None else {}
        for pid, (looks, _score) in pooled.items():
            counts[pid] = looks
        # Watchlisted people first: a track that showed one at their threshold alerts and never opens,
        # even when it also matched somebody else with more looks.
        for pid, hits in sorted(counts.items(), key=lambda kv: (not watchlisted(kv[0]), -len(kv[1]))):
            person = people.get(pid)
            # A pooled match is scored by the track's pooled template, not by its best single look.
            pooled_score = pooled[pid][1] if pid in pooled else None
            is_pooled = pooled_score is not None
            if person is not None and person.kind == PersonKind.watchlist:
                # One sighting of a watchlisted person is enough to alert (never opens).
                score = pooled_score if pooled_score is not None else max(h.score for h in hits)
                wl = self.cfg.watchlist_threshold
                if wl is not None and score < wl:
                    continue
                return Decision(
                    Outcome.watchlist, pid, person.kind, score, "watchlist", now_mono, pooled=is_pooled
                )
            strong = self.cfg.strong_match_score
            needed = self.cfg.min_consistent_matches
            if (
                not is_pooled
                and strong is not None
                and any(h.score >= strong and h.live is not False for h in hits)
            ):
                needed = 1  # one very strong, live match (far below the calibrated FAR) decides alone
            if len(hits) < needed:
                continue
            score = pooled_score if pooled_score is not None else max(h.score for h in hits)
            # Decided thanks to looks below the threshold (fewer looks above it than needed).
            consistent = not is_pooled and above.get(pid, 0) < needed
            if person is None:
                return Decision(
                    Outcome.denied,
                    pid,
                    None,
                    score,
                    "unknown_person",
                    now_mono,
                    pooled=is_pooled,
                    consistent=consistent,
                )
            if self.cfg.require_liveness:
                live_hits = [h for h in hits if h.live is not False]
                if len(live_hits) < needed or (
                    # The look at or above the threshold must itself be live, not only the lower ones.
                    consistent and not any(h.person_id == pid for h in live_hits)
                ):
                    return None  # wait for live frames (or enough failures to deny)
            if not whitelist_fresh:
                return Decision(
                    Outcome.denied,
                    pid,
                    person.kind,
                    score,
                    "whitelist_stale",
                    now_mono,
                    pooled=is_pooled,
                    consistent=consistent,
                )
            allowed, reason = self.rules.check(person, ctx, now_wall)
            if not allowed:
                return Decision(
                    Outcome.denied,
                    pid,
                    person.kind,
                    score,
                    reason,
                    now_mono,
                    pooled=is_pooled,
                    consistent=consistent,
                )
            outcome = Outcome.visitor if person.kind == PersonKind.visitor else Outcome.open
            return Decision(
                outcome,
                pid,
                person.kind,
                score,
                reason,
                now_mono,
                looks=len(obs),
                pooled=is_pooled,
                consistent=consistent,
            )
        unmatched = [o for o in evidence.observations if o.person_id is None]
        if (
            not counts
            and now_mono - evidence.first_at >= self.cfg.stranger_after_s
            and len(unmatched) >= self.cfg.min_consistent_matches
        ):
            best = max(o.score for o in unmatched)
            return Decision(Outcome.stranger, None, None, best, "no_match", now_mono)
        return None

    def _pooled(
        self, obs: list[Observation], counts: dict[str, list[Observation]], pool: PoolScorer
    ) -> dict[str, tuple[list[Observation], float]]:
        """People matched by template pooling: ≥ N live looks with them as top-1, pooled score high enough.

        Only for people the single-look rule has not matched yet (it needs no pooling then).
        """
        n = self.cfg.min_consistent_matches
        groups: dict[str, list[Observation]] = {}
        for o in obs:
            if o.candidate_id is not None and o.vector is not None and o.live is not False:
                groups.setdefault(o.candidate_id, []).append(o)
        out: dict[str, tuple[list[Observation], float]] = {}
        for pid, looks in groups.items():
            if len(looks) < n or len(counts.get(pid, ())) >= n:
                continue
            hit, score = pool([o.vector for o in looks if o.vector is not None])
            if hit == pid:
                out[pid] = (looks, score)
        return out


def _mode(items: list[str]) -> str | None:
    if not items:
        return None
    return max(set(items), key=items.count)
