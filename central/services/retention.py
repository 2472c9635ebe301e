"""Retention: delete records older than their period, in batches.

Periods are per record type (pass records, strangers, vehicle plates, other
events, alert snapshots, resolved alerts, webhook deliveries, visits, whitelist
versions, camera status history). The configured :class:`RetentionSettings`
are the defaults; an administrator may shorten them globally or per site
(``central.services.retention_admin``), and :func:`run_retention` takes those
per-site settings as ``per_site``. The audit log is not touched here: it has its
own minimum (six months) and its own purge in ``central.services.audit``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Delete, delete, func, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from central.models.alerts import Alert, WebhookDelivery
from central.models.camera_history import CameraStatusChange
from central.models.events import EventRecord
from central.models.snapshots import EventSnapshot
from central.models.visitors import Visit
from central.models.zones import WhitelistChange, WhitelistVersion
from central.settings import RetentionSettings

log = logging.getLogger(__name__)

__all__ = ["RetentionSettings", "run_retention"]


class _Scope:
    """Which sites one pass of the purge covers: ``only`` these, or all ``but`` these."""

    def __init__(self, only: list[str] | None, but: list[str]) -> None:
        self.only = only
        self.but = but

    def on(self, column: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
        if self.only is not None:
            return column.in_(self.only)
        if self.but:
            return column.not_in(self.but)
        return true()


def _purge_batched(
    session: Session, key: InstrumentedAttribute[Any], where: list[ColumnElement[bool]], batch: int
) -> int:
    total = 0
    while True:
        chunk = list(session.scalars(select(key).where(*where).limit(batch)))
        if not chunk:
            return total
        session.execute(delete(key.class_).where(key.in_(chunk)))
        session.commit()
        total += len(chunk)


def _purge_events(
    session: Session,
    scope: _Scope,
    kinds: list[str] | None,
    exclude: list[str],
    cutoff: datetime,
    batch: int,
) -> int:
    where = [EventRecord.captured_at < cutoff, scope.on(EventRecord.site_id)]
    if kinds is not None:
        where.append(EventRecord.kind.in_(kinds))
    if exclude:
        where.append(EventRecord.kind.not_in(exclude))
    return _purge_batched(session, EventRecord.id, where, batch)


def _count(session: Session, stmt: Delete) -> int:
    return int(getattr(session.execute(stmt), "rowcount", 0) or 0)


def _run_scope(
    session: Session, settings: RetentionSettings, now: datetime, scope: _Scope, done: dict[str, int]
) -> None:
    day = timedelta(days=1)
    special = ["pass", "stranger", "liveness_failure", "vehicle_plate"]

    def add(key: str, n: int) -> None:
        done[key] = done.get(key, 0) + n

    batch = settings.batch
    add("pass", _purge_events(session, scope, ["pass"], [], now - settings.pass_days * day, batch))
    add(
        "stranger",
        _purge_events(
            session, scope, ["stranger", "liveness_failure"], [], now - settings.stranger_days * day, batch
        ),
    )
    add(
        "vehicle_plate",
        _purge_events(session, scope, ["vehicle_plate"], [], now - settings.vehicle_days * day, batch),
    )
    add(
        "other_events",
        _purge_events(session, scope, None, special, now - settings.other_event_days * day, batch),
    )
    # face images of alerts: usually shorter than the records they belong to
    add(
        "snapshots",
        _purge_batched(
            session,
            EventSnapshot.event_id,
            [EventSnapshot.captured_at < now - settings.snapshot_days * day, scope.on(EventSnapshot.site_id)],
            batch,
        ),
    )
    add(
        "camera_status",
        _purge_batched(
            session,
            CameraStatusChange.id,
            [
                CameraStatusChange.at < now - settings.camera_status_days * day,
                scope.on(CameraStatusChange.site_id),
            ],
            batch,
        ),
    )
    add(
        "alerts",
        _count(
            session,
            delete(Alert).where(
                Alert.status == "resolved",
                Alert.last_at < now - settings.alert_days * day,
                scope.on(Alert.site_id),
            ),
        ),
    )
    add(
        "visits",
        _count(
            session,
            delete(Visit).where(Visit.entered_at < now - settings.visit_days * day, scope.on(Visit.site_id)),
        ),
    )
    old = now - settings.whitelist_version_days * day
    latest_alias = aliased(WhitelistVersion)
    latest = select(func.max(latest_alias.version))
    add(
        "whitelist_versions",
        _count(
            session,
            delete(WhitelistVersion).where(
                WhitelistVersion.published_at.is_not(None),
                WhitelistVersion.issued_at < old,
                scope.on(WhitelistVersion.site_id),
                # the newest version of a site stays: numbering continues from it
                WhitelistVersion.version
                < latest.where(latest_alias.site_id == WhitelistVersion.site_id).scalar_subquery(),
            ),
        ),
    )
    session.execute(
        delete(WhitelistChange).where(
            WhitelistChange.processed_at.is_not(None),
            WhitelistChange.created_at < old,
            scope.on(WhitelistChange.site_id),
        )
    )
    session.commit()


def run_retention(
    session: Session,
    settings: RetentionSettings,
    now: datetime,
    per_site: Mapping[str, RetentionSettings] | None = None,
) -> dict[str, int]:
    """Delete what is past its period; returns rows deleted per type. Commits.

    ``settings`` applies to every site not in ``per_site``; each site in ``per_site`` is purged
    with its own periods. Webhook deliveries belong to no site: ``settings.delivery_days``.
    """
    done: dict[str, int] = {}
    sites = dict(per_site or {})
    for site_id, site_settings in sites.items():
        _run_scope(session, site_settings, now, _Scope([site_id], []), done)
    _run_scope(session, settings, now, _Scope(None, list(sites)), done)
    done["webhook_deliveries"] = _count(
        session,
        delete(WebhookDelivery).where(
            WebhookDelivery.state != "pending",
            WebhookDelivery.created_at < now - settings.delivery_days * timedelta(days=1),
        ),
    )
    session.commit()
    if any(done.values()):
        log.info("retention removed %s", done)
    return done
