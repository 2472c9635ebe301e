"""Retention: delete records older than their configured period, in batches.

Periods are per record type (pass records, strangers, vehicle plates, other
events, alert snapshots, resolved alerts, webhook deliveries, visits, whitelist
versions). The audit log is not touched here: it has its own minimum (six months) and its own
purge in ``central.services.audit``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased

from central.models.alerts import Alert, WebhookDelivery
from central.models.events import EventRecord
from central.models.visitors import Visit
from central.models.zones import WhitelistChange, WhitelistVersion
from central.services.snapshots import purge_snapshots
from central.settings import RetentionSettings

log = logging.getLogger(__name__)

__all__ = ["RetentionSettings", "run_retention"]


def _purge_events(
    session: Session, kinds: list[str] | None, exclude: list[str], cutoff: datetime, batch: int
) -> int:
    total = 0
    while True:
        ids = select(EventRecord.id).where(EventRecord.captured_at < cutoff)
        if kinds is not None:
            ids = ids.where(EventRecord.kind.in_(kinds))
        if exclude:
            ids = ids.where(EventRecord.kind.not_in(exclude))
        chunk = list(session.scalars(ids.limit(batch)))
        if not chunk:
            return total
        session.execute(delete(EventRecord).where(EventRecord.id.in_(chunk)))
        session.commit()
        total += len(chunk)


def run_retention(session: Session, settings: RetentionSettings, now: datetime) -> dict[str, int]:
    """Delete what is past its period; returns rows deleted per type. Commits."""
    day = timedelta(days=1)
    done: dict[str, int] = {}
    special = ["pass", "stranger", "liveness_failure", "vehicle_plate"]
    done["pass"] = _purge_events(session, ["pass"], [], now - settings.pass_days * day, settings.batch)
    done["stranger"] = _purge_events(
        session, ["stranger", "liveness_failure"], [], now - settings.stranger_days * day, settings.batch
    )
    done["vehicle_plate"] = _purge_events(
        session, ["vehicle_plate"], [], now - settings.vehicle_days * day, settings.batch
    )
    done["other_events"] = _purge_events(
        session, None, special, now - settings.other_event_days * day, settings.batch
    )
    # face images of alerts: usually shorter than the records they belong to
    done["snapshots"] = purge_snapshots(session, settings.snapshot_days, now, settings.batch)
    res = session.execute(
        delete(Alert).where(Alert.status == "resolved", Alert.last_at < now - settings.alert_days * day)
    )
    done["alerts"] = int(getattr(res, "rowcount", 0) or 0)
    res = session.execute(delete(Visit).where(Visit.entered_at < now - settings.visit_days * day))
    done["visits"] = int(getattr(res, "rowcount", 0) or 0)
    res = session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.state != "pending",
            WebhookDelivery.created_at < now - settings.delivery_days * day,
        )
    )
    done["webhook_deliveries"] = int(getattr(res, "rowcount", 0) or 0)
    old = now - settings.whitelist_version_days * day
    latest_alias = aliased(WhitelistVersion)
    latest = select(func.max(latest_alias.version))
    res = session.execute(
        delete(WhitelistVersion).where(
            WhitelistVersion.published_at.is_not(None),
            WhitelistVersion.issued_at < old,
            # the newest version of a site stays: numbering continues from it
            WhitelistVersion.version
            < latest.where(latest_alias.site_id == WhitelistVersion.site_id).scalar_subquery(),
        )
    )
    done["whitelist_versions"] = int(getattr(res, "rowcount", 0) or 0)
    session.execute(
        delete(WhitelistChange).where(
            WhitelistChange.processed_at.is_not(None), WhitelistChange.created_at < old
        )
    )
    session.commit()
    if any(done.values()):
        log.info("retention removed %s", done)
    return done
