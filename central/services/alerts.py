"""The alert engine: rules applied to fresh events and on a schedule, de-duplication,
escalation, acknowledgement.

``AlertEngine.on_records`` runs inside the ingest transaction on the events just
recorded; ``AlertEngine.run_periodic`` runs every few seconds on the injected
clock and raises 长时间不出现 (absence) alerts and escalations. Both return the
notices to deliver, which the caller hands to the notifier *after* commit, so a
console never sees an alert that was rolled back. Alerts that no rule raises
(reminders of scheduled checks) are in ``central.services.alerts_reminders``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anju.clock import Clock
from central.errors import Conflict, FieldError, NotFound, ValidationFailed
from central.models.alerts import Alert, AlertRule
from central.models.events import EventRecord, PersonPresence
from central.models.registry import Person, Site
from central.models.vehicles import Vehicle
from central.services.access import DEFAULT_TZ
from central.services.alert_rules import (
    AbsenceParams,
    DoorParams,
    LivenessParams,
    Period,
    RuleParams,
    RuleType,
    SpecialLeavingParams,
    StrangerParams,
    TailgatingParams,
    WatchlistParams,
    mask_name,
    parse_params,
    period_severity,
    raise_severity,
    titles,
)
from central.services.events import RecordData
from central.services.notify import AlertMessage, NoticeKind, enqueue_webhooks

log = logging.getLogger(__name__)

MAX_EVENT_IDS = 50
# the event kind each event-driven rule type looks at
EVENT_KIND = {
    RuleType.stranger.value: "stranger",
    RuleType.watchlist.value: "watchlist_hit",
    RuleType.tailgating.value: "tailgating",
    RuleType.liveness.value: "liveness_failure",
    RuleType.door.value: "door_state",
    RuleType.special_leaving.value: "pass",
    RuleType.vehicle_watch.value: "vehicle_plate",
}


@dataclass
class _Ctx:
    session: Session
    now: datetime
    notices: list[tuple[Alert, NoticeKind]] = field(default_factory=list)
    tz_cache: dict[str, str] = field(default_factory=dict)
    person_cache: dict[str, Person | None] = field(default_factory=dict)

    def tz(self, site_id: str) -> str:
        if site_id not in self.tz_cache:
            site = self.session.get(Site, site_id)
            self.tz_cache[site_id] = site.timezone if site is not None else DEFAULT_TZ
        return self.tz_cache[site_id]

    def prefetch(self, person_ids: list[str]) -> None:
        """Load many persons in a few queries (rules look at flags of people passing)."""
        wanted = sorted(set(person_ids) - set(self.person_cache))
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            found = {p.id: p for p in self.session.scalars(select(Person).where(Person.id.in_(chunk)))}
            for pid in chunk:
                self.person_cache[pid] = found.get(pid)

    def person(self, person_id: str | None) -> Person | None:
        if not person_id:
            return None
        if person_id not in self.person_cache:
            self.person_cache[person_id] = self.session.get(Person, person_id)
        return self.person_cache[person_id]


def validate_rule(rule_type: str, params: dict[str, object], periods: list[dict[str, object]]) -> None:
    """Raise :class:`ValidationFailed` with field messages if a rule definition is invalid."""
    try:
        RuleType(rule_type)
    except ValueError as exc:
        raise ValidationFailed(
            "未知的规则类型",
            "unknown rule type",
            [FieldError("type", f"one of {[t.value for t in RuleType]}")],
        ) from exc
    problems: list[FieldError] = []
    try:
        parse_params(rule_type, params)
    except ValidationError as exc:
        problems += [
            FieldError("params." + ".".join(str(p) for p in e["loc"][1:]), e["msg"]) for e in exc.errors()
        ]
    for i, period in enumerate(periods):
        try:
            Period.model_validate(period)
        except ValidationError as exc:
            problems += [
                FieldError(f"periods.{i}." + ".".join(str(p) for p in e["loc"]), e["msg"])
                for e in exc.errors()
            ]
    if problems:
        raise ValidationFailed("规则参数无效", "invalid rule parameters", problems)


def finish_notices(
    session: Session, notices: list[tuple[Alert, NoticeKind]], now: datetime
) -> list[AlertMessage]:
    """Flush, then one message per alert in its final state (created wins), and the webhook
    deliveries of every notice but ``alert.updated``; the caller commits, then publishes."""
    session.flush()
    seen: dict[str, AlertMessage] = {}
    for alert, notice in notices:
        # Several events in one batch on one alert: send its final state once (created wins).
        prev = seen.get(alert.id)
        kind: NoticeKind = "alert.created" if prev is not None and prev.notice == "alert.created" else notice
        seen[alert.id] = AlertMessage.of(alert, kind, now)
    messages = list(seen.values())
    enqueue_webhooks(session, [m for m in messages if m.notice != "alert.updated"], now)
    return messages


class AlertEngine:
    """Applies a site's enabled rules. Stateless apart from the clock: all state is in the database."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    # ------------------------------------------------------------ events

    def on_records(self, session: Session, records: list[RecordData]) -> list[AlertMessage]:
        """Evaluate every rule against freshly recorded events; returns notices to send after commit."""
        ctx = _Ctx(session, self.clock.now())
        ctx.prefetch([r.person_id for r in records if r.person_id and r.kind in ("pass", "watchlist_hit")])
        compiled: dict[str, list[tuple[AlertRule, RuleParams, list[Period], str]]] = {}
        for rec in records:
            if rec.site_id not in compiled:
                compiled[rec.site_id] = self._compile(session, rec.site_id)
            for rule, params, periods, kind in compiled[rec.site_id]:
                if kind != rec.kind:
                    continue
                if rule.camera_codes and not ({rec.camera_id, rec.door_id} & set(rule.camera_codes)):
                    continue  # camera scope: the rule names cameras and/or doors
                severity = period_severity(periods, rule.severity, rec.captured_at, ctx.tz(rec.site_id))
                if severity is not None:
                    self._apply(ctx, rule, params, rec, severity.value)
        return self._finish(ctx)

    @staticmethod
    def _compile(session: Session, site_id: str) -> list[tuple[AlertRule, RuleParams, list[Period], str]]:
        """The site's enabled event rules, parameters parsed once per batch."""
        out = []
        for rule in session.scalars(select(AlertRule).where(AlertRule.site_id == site_id, AlertRule.enabled)):
            kind = EVENT_KIND.get(rule.type)
            if kind is None:
                continue  # scheduled rules (absence) do not look at events
            try:
                params = parse_params(rule.type, rule.params)
                periods = [Period.model_validate(p) for p in rule.periods]
            except ValidationError:
                log.error("alert rule %s has invalid params; skipped", rule.id)
                continue
            out.append((rule, params, periods, kind))
        return out

    def _apply(self, ctx: _Ctx, rule: AlertRule, params: RuleParams, rec: RecordData, severity: str) -> None:
        rtype = RuleType(rule.type)
        where = {"camera": rec.camera_id, "door": rec.door_id}
        if rtype is RuleType.stranger and rec.kind == "stranger":
            assert isinstance(params, StrangerParams)
            if params.ring is not None and rec.ring != params.ring:
                return
            n = self._count_recent(ctx, rule, rec, "stranger", params.window_s, params.ring)
            if n >= params.count:
                key = (
                    f"{rule.id}:ring{params.ring}"
                    if params.ring is not None
                    else f"{rule.id}:{rec.camera_id}"
                )
                zh, en = titles(rtype, ring=rec.ring, count=n, **where)
                self._raise(ctx, rule, rec, severity, key, zh, en)
        elif rtype is RuleType.watchlist and rec.kind == "watchlist_hit":
            assert isinstance(params, WatchlistParams)
            category = str(rec.detail.get("category") or "")
            person = ctx.person(rec.person_id)
            if not category and person is not None:
                category = person.watchlist_category or ""
            if params.categories and category not in params.categories:
                return
            if rec.score is not None and rec.score < params.min_score:
                return
            name = mask_name(person.name) if person is not None else (rec.person_id or "")
            zh, en = titles(rtype, category=category, person=name, **where)
            self._raise(ctx, rule, rec, severity, f"{rule.id}:{rec.person_id}:{rec.camera_id}", zh, en)
        elif rtype is RuleType.tailgating and rec.kind == "tailgating":
            assert isinstance(params, TailgatingParams)
            counted = int(str(rec.detail.get("counted", 0)))
            authorised = int(str(rec.detail.get("authorised", 0)))
            if counted - authorised >= params.min_extra:
                zh, en = titles(rtype, **where)
                self._raise(ctx, rule, rec, severity, f"{rule.id}:{rec.door_id}", zh, en)
        elif rtype is RuleType.liveness and rec.kind == "liveness_failure":
            assert isinstance(params, LivenessParams)
            n = self._count_recent(ctx, rule, rec, "liveness_failure", params.window_s, None)
            if n >= params.count:
                zh, en = titles(rtype, **where)
                self._raise(ctx, rule, rec, severity, f"{rule.id}:{rec.camera_id}", zh, en)
        elif rtype is RuleType.door and rec.kind == "door_state":
            assert isinstance(params, DoorParams)
            state = str(rec.detail.get("state", ""))
            if state in {s.value for s in params.states}:
                zh, en = titles(rtype, state=state, **where)
                self._raise(ctx, rule, rec, severity, f"{rule.id}:{rec.door_id}:{state}", zh, en)
        elif rtype is RuleType.special_leaving and rec.kind == "pass":
            assert isinstance(params, SpecialLeavingParams)
            if rec.ring != params.ring or rec.direction != "out":
                return
            person = ctx.person(rec.person_id)
            if person is None or not any(getattr(person, flag, False) for flag in params.flags):
                return
            zh, en = titles(rtype, person=mask_name(person.name), ring=params.ring, **where)
            self._raise(ctx, rule, rec, severity, f"{rule.id}:{rec.person_id}", zh, en)
        elif rtype is RuleType.vehicle_watch and rec.kind == "vehicle_plate" and rec.plate:
            vehicle = ctx.session.scalars(
                select(Vehicle).where(Vehicle.site_id == rec.site_id, Vehicle.plate == rec.plate)
            ).first()
            if vehicle is not None and vehicle.watchlisted:
                zh, en = titles(rtype, plate=rec.plate, **where)
                self._raise(ctx, rule, rec, severity, f"{rule.id}:{rec.plate}", zh, en)

    def _count_recent(
        self, ctx: _Ctx, rule: AlertRule, rec: RecordData, kind: str, window_s: int, ring: int | None
    ) -> int:
        stmt = select(func.count(EventRecord.id)).where(
            EventRecord.site_id == rec.site_id,
            EventRecord.kind == kind,
            EventRecord.captured_at > rec.captured_at - timedelta(seconds=window_s),
            EventRecord.captured_at <= rec.captured_at,
        )
        if ring is not None:
            stmt = stmt.where(EventRecord.ring == ring)
        if rule.camera_codes:
            stmt = stmt.where(EventRecord.camera_id.in_(rule.camera_codes))
        elif ring is None:
            stmt = stmt.where(EventRecord.camera_id == rec.camera_id)
        return int(ctx.session.scalar(stmt) or 0)

    def _raise(
        self,
        ctx: _Ctx,
        rule: AlertRule,
        rec: RecordData | None,
        severity: str,
        key: str,
        title_zh: str,
        title_en: str,
        *,
        site_id: str | None = None,
        person_id: str | None = None,
        at: datetime | None = None,
    ) -> Alert:
        at = at or (rec.captured_at if rec is not None else ctx.now)
        site = site_id or (rec.site_id if rec is not None else rule.site_id)
        open_alert = ctx.session.scalars(
            select(Alert)
            .where(Alert.site_id == site, Alert.dedup_key == key, Alert.status != "resolved")
            .order_by(Alert.last_at.desc())
        ).first()
        if open_alert is not None and open_alert.last_at >= at - timedelta(seconds=rule.dedup_s):
            open_alert.count += 1
            open_alert.last_at = max(open_alert.last_at, at)
            if rec is not None:
                open_alert.event_ids = [*open_alert.event_ids, rec.event_id][-MAX_EVENT_IDS:]
            open_alert.title_zh, open_alert.title_en = title_zh, title_en
            ctx.notices.append((open_alert, "alert.updated"))
            return open_alert
        alert = Alert(
            site_id=site,
            rule_id=rule.id,
            type=rule.type,
            severity=severity,
            status="open",
            title_zh=title_zh[:256],
            title_en=title_en[:256],
            dedup_key=key,
            person_id=person_id or (rec.person_id if rec is not None else None),
            camera_id=(rec.camera_id or rec.door_id) if rec is not None else None,
            zone_id=rec.zone_id if rec is not None else None,
            ring=rec.ring if rec is not None else None,
            count=1,
            event_ids=[rec.event_id] if rec is not None else [],
            first_at=at,
            last_at=at,
        )
        ctx.session.add(alert)
        ctx.notices.append((alert, "alert.created"))
        return alert

    def _finish(self, ctx: _Ctx) -> list[AlertMessage]:
        return finish_notices(ctx.session, ctx.notices, ctx.now)

    # ------------------------------------------------------------ schedule

    def run_periodic(self, session: Session, site_ids: list[str] | None = None) -> list[AlertMessage]:
        """Absence rules and escalation at ``clock.now()``; the caller commits, then delivers."""
        ctx = _Ctx(session, self.clock.now())
        stmt = select(AlertRule).where(AlertRule.enabled, AlertRule.type == RuleType.absence.value)
        if site_ids is not None:
            stmt = stmt.where(AlertRule.site_id.in_(site_ids))
        for rule in session.scalars(stmt):
            params = parse_params(rule.type, rule.params)
            assert isinstance(params, AbsenceParams)
            periods = [Period.model_validate(p) for p in rule.periods]
            severity = period_severity(periods, rule.severity, ctx.now, ctx.tz(rule.site_id))
            if severity is not None:
                self._absence(ctx, rule, params, severity.value)
        self._escalate(ctx, site_ids)
        return self._finish(ctx)

    def _absence(self, ctx: _Ctx, rule: AlertRule, params: AbsenceParams, severity: str) -> None:
        stmt = select(Person, PersonPresence.last_seen_at).outerjoin(
            PersonPresence,
            (PersonPresence.site_id == Person.site_id) & (PersonPresence.person_id == Person.id),
        )
        stmt = stmt.where(Person.site_id == rule.site_id, Person.status == "active")
        group = params.group
        if group in ("elderly_alone", "dementia", "minor"):
            stmt = stmt.where(getattr(Person, group).is_(True))
        elif group != "all":
            stmt = stmt.where(Person.kind == group)
        cutoff = ctx.now - timedelta(days=params.days)
        # Never seen: count from registration, so a new resident is not flagged at once.
        seen = func.coalesce(PersonPresence.last_seen_at, Person.created_at)
        absent = ctx.session.execute(stmt.where(seen <= cutoff)).all()
        if not absent:
            return
        # the newest alert of this rule per person, in one query
        latest = dict(
            ctx.session.execute(
                select(Alert.person_id, func.max(Alert.first_at))
                .where(Alert.site_id == rule.site_id, Alert.rule_id == rule.id)
                .group_by(Alert.person_id)
            ).all()
        )
        for person, last_seen in absent:
            since = last_seen or person.created_at
            previous = latest.get(person.id)
            if previous is not None and previous >= since:
                continue  # one alert per absence episode: a later sighting starts a new one
            days = int((ctx.now - since).total_seconds() // 86400)
            zh, en = titles(RuleType.absence, person=mask_name(person.name), days=days)
            key = f"{rule.id}:{person.id}"
            self._raise(
                ctx, rule, None, severity, key, zh, en, site_id=rule.site_id, person_id=person.id, at=ctx.now
            )

    def _escalate(self, ctx: _Ctx, site_ids: list[str] | None) -> None:
        stmt = (
            select(Alert, AlertRule.escalate_after_s)
            .join(AlertRule, AlertRule.id == Alert.rule_id)
            .where(Alert.status == "open", AlertRule.escalate_after_s.is_not(None))
        )
        if site_ids is not None:
            stmt = stmt.where(Alert.site_id.in_(site_ids))
        for alert, after_s in ctx.session.execute(stmt):
            since = alert.escalated_at or alert.first_at
            if after_s is None or ctx.now - since < timedelta(seconds=after_s):
                continue
            if alert.severity == "critical":
                continue
            alert.severity = raise_severity(alert.severity).value
            alert.escalation_level += 1
            alert.escalated_at = ctx.now
            ctx.notices.append((alert, "alert.escalated"))


# ---------------------------------------------------------------- people acting on alerts


def get_alert(session: Session, alert_id: str) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("告警不存在", f"alert {alert_id} not found")
    return alert


def acknowledge(session: Session, alert: Alert, user_id: str, note: str, now: datetime) -> AlertMessage:
    """Mark an open alert acknowledged with a note (stops escalation)."""
    if alert.status != "open":
        raise Conflict("告警已处理", f"alert is already {alert.status}")
    alert.status = "acknowledged"
    alert.acknowledged_by = user_id
    alert.acknowledged_at = now
    alert.ack_note = note
    session.flush()
    return AlertMessage.of(alert, "alert.acknowledged", now)


def resolve(session: Session, alert: Alert, user_id: str, note: str, now: datetime) -> AlertMessage:
    if alert.status == "resolved":
        raise Conflict("告警已关闭", "alert is already resolved")
    if alert.acknowledged_by is None:
        alert.acknowledged_by = user_id
        alert.acknowledged_at = now
    alert.status = "resolved"
    alert.resolved_at = now
    if note:
        alert.ack_note = (alert.ack_note + "\n" + note).strip()[:4000]
    session.flush()
    return AlertMessage.of(alert, "alert.resolved", now)
