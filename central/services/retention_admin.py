"""Retention periods an administrator sets in the console, globally or per site.

The configured :class:`~central.settings.RetentionSettings` (``ANJU_RETENTION__*``) give the
defaults and the ceilings: a stored period lies between the config model's lower bound and the
configured value, so an operator's deployment limit cannot be exceeded from the console. A site's
value overrides the global one, which overrides the configuration. Every change is written to the
audit log with the old and new effective values. :func:`effective_settings` is what the retention
worker purges with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.errors import FieldError, NotFound, ValidationFailed
from central.models.registry import Site
from central.models.retention import GLOBAL_SCOPE, RetentionOverride
from central.services import audit
from central.settings import RetentionSettings

# The period fields (``batch`` is a tuning knob, not a period) with their zh-CN / English labels.
LABELS: dict[str, tuple[str, str]] = {
    "pass_days": ("通行记录", "in/out (pass) records"),
    "stranger_days": ("陌生人及活体失败记录", "stranger and liveness-failure records"),
    "vehicle_days": ("车牌记录", "vehicle plate records"),
    "other_event_days": ("设备状态等其他记录", "status, heartbeat and other records"),
    "alert_days": ("已处置告警", "resolved alerts"),
    "visit_days": ("访客来访记录", "visit records"),
    "snapshot_days": ("告警抓拍图片", "event snapshots (face images) of alerts"),
    "camera_status_days": ("摄像机状态历史", "camera status history (uptime)"),
    "whitelist_version_days": ("已发布名单版本", "published whitelist versions"),
    "delivery_days": ("推送投递日志", "webhook delivery log"),
}
FIELDS: tuple[str, ...] = tuple(LABELS)
# Webhook deliveries belong to no site: their period is global only.
GLOBAL_ONLY = frozenset({"delivery_days"})

Source = Literal["site", "global", "config"]


@dataclass(frozen=True)
class Period:
    """One period as the console shows it."""

    field: str
    label_zh: str
    label_en: str
    days: int
    source: Source
    default: int  # the configured value (also the ceiling)
    min: int
    max: int
    global_only: bool


def bounds(config: RetentionSettings, field: str) -> tuple[int, int]:
    """(lowest, highest) days a stored value may take: the model's bounds, capped by the config."""
    lo, hi = 1, 36500
    for meta in RetentionSettings.model_fields[field].metadata:
        lo = int(getattr(meta, "ge", lo) or lo)
        hi = int(getattr(meta, "le", hi) or hi)
    return lo, min(hi, int(getattr(config, field)))


def _scope_of(session: Session, site_id: str | None) -> str:
    if site_id is None:
        return GLOBAL_SCOPE
    if session.get(Site, site_id) is None:
        raise NotFound("小区不存在", f"site {site_id} not found", [FieldError("site_id", "unknown")])
    return site_id


def _stored(session: Session, scopes: list[str]) -> dict[tuple[str, str], RetentionOverride]:
    rows = session.scalars(select(RetentionOverride).where(RetentionOverride.scope.in_(scopes)))
    return {(r.scope, r.field): r for r in rows}


def periods(session: Session, config: RetentionSettings, site_id: str | None) -> list[Period]:
    """The effective periods for ``site_id`` (None: the global values) and where each comes from."""
    scope = _scope_of(session, site_id)
    stored = _stored(session, list({GLOBAL_SCOPE, scope}))
    out = []
    for field in FIELDS:
        lo, hi = bounds(config, field)
        days, source = int(getattr(config, field)), "config"
        if (GLOBAL_SCOPE, field) in stored:
            days, source = stored[(GLOBAL_SCOPE, field)].days, "global"
        if scope != GLOBAL_SCOPE and (scope, field) in stored and field not in GLOBAL_ONLY:
            days, source = stored[(scope, field)].days, "site"
        zh, en = LABELS[field]
        out.append(
            Period(
                field=field,
                label_zh=zh,
                label_en=en,
                days=min(max(days, lo), hi),  # a lowered configuration still caps old stored values
                source=source,  # type: ignore[arg-type]
                default=int(getattr(config, field)),
                min=lo,
                max=hi,
                global_only=field in GLOBAL_ONLY,
            )
        )
    return out


def update(
    session: Session,
    config: RetentionSettings,
    site_id: str | None,
    values: dict[str, int | None],
    *,
    actor: audit.Actor,
    now: datetime,
    reason: str = "",
) -> list[Period]:
    """Set (an int) or clear (None: inherit again) periods for a site or globally. Audited; commits.

    Raises :class:`ValidationFailed` naming each field that is unknown, global-only on a site, or out
    of its bounds; nothing is changed then.
    """
    scope = _scope_of(session, site_id)
    problems = []
    for field, days in values.items():
        if field not in LABELS:
            problems.append(FieldError(field, "未知的保留期限 / unknown retention period"))
            continue
        if scope != GLOBAL_SCOPE and field in GLOBAL_ONLY:
            problems.append(FieldError(field, "只能全局设置 / can only be set globally"))
            continue
        lo, hi = bounds(config, field)
        if days is not None and not lo <= days <= hi:
            problems.append(
                FieldError(field, f"应在 {lo}–{hi} 天之间（上限由部署配置决定）/ must be {lo}–{hi} days")
            )
    if problems:
        raise ValidationFailed("保留期限无效", "invalid retention periods", problems)
    before = {p.field: p for p in periods(session, config, site_id)}
    stored = _stored(session, [scope])
    for field, days in values.items():
        row = stored.get((scope, field))
        if days is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(
                RetentionOverride(
                    scope=scope, field=field, days=days, updated_at=now, updated_by=actor.user_id
                )
            )
        elif row.days != days:
            row.days = days
            row.updated_at = now
            row.updated_by = actor.user_id
    session.flush()
    after = periods(session, config, site_id)
    changes = {
        p.field: {
            "old": before[p.field].days,
            "new": p.days,
            "old_source": before[p.field].source,
            "new_source": p.source,
        }
        for p in after
        if (p.days, p.source) != (before[p.field].days, before[p.field].source)
    }
    if changes:
        audit.record(
            session,
            actor=actor,
            action="retention.update",
            object_type="retention",
            object_id=scope,
            site_id=site_id,
            reason=reason,
            detail={"scope": scope, "changes": changes},
            now=now,
        )
    session.commit()
    return after


def effective_settings(
    session: Session, config: RetentionSettings
) -> tuple[RetentionSettings, dict[str, RetentionSettings]]:
    """The global settings and, for each site with its own values, that site's settings.

    What the retention worker purges with: stored values capped by the configuration.
    """
    rows = list(session.scalars(select(RetentionOverride)))

    def merged(base: RetentionSettings, scope: str) -> RetentionSettings:
        update: dict[str, int] = {}
        for r in rows:
            if (
                r.scope == scope
                and r.field in LABELS
                and not (scope != GLOBAL_SCOPE and r.field in GLOBAL_ONLY)
            ):
                lo, hi = bounds(config, r.field)
                update[r.field] = min(max(r.days, lo), hi)
        return base.model_copy(update=update) if update else base

    glob = merged(config, GLOBAL_SCOPE)
    sites = {r.scope for r in rows if r.scope != GLOBAL_SCOPE}
    return glob, {s: merged(glob, s) for s in sorted(sites)}
