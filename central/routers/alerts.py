"""Alert rules, alerts (list, acknowledge, resolve) and webhooks."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field
from sqlalchemy import select

from central.deps import ClockDep, ReasonDep, SessionDep, actor_of, ensure_site_access, require_roles
from central.errors import NotFound
from central.ingest import ops_runtime
from central.models.alerts import Alert, AlertRule, Webhook, WebhookDelivery
from central.models.users import User
from central.schemas import ApiModel
from central.security import ADMIN, GRID_WORKER, GUARD, POLICE, PROPERTY_MANAGER
from central.services import alerts as alert_service
from central.services import audit
from central.services import snapshots as snapshot_service
from central.services.alert_rules import RuleType
from contracts import Severity

router = APIRouter(tags=["alerts"])

Manager = Annotated[User, Depends(require_roles(PROPERTY_MANAGER))]
Responder = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GUARD, POLICE, GRID_WORKER))]


class RuleIn(ApiModel):
    site_id: str = Field(max_length=36)
    name: str = Field(min_length=1, max_length=128)
    type: RuleType
    enabled: bool = True
    severity: Severity = Severity.medium
    params: dict[str, Any] = Field(default_factory=dict)
    camera_codes: list[str] = Field(default_factory=list, max_length=500)
    periods: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    dedup_s: int = Field(300, ge=0, le=7 * 86400)
    escalate_after_s: int | None = Field(None, ge=60, le=7 * 86400)


class RuleOut(RuleIn):
    id: str


class AlertOut(ApiModel):
    id: str
    site_id: str
    rule_id: str | None
    type: str
    severity: str
    status: str
    title_zh: str
    title_en: str
    person_id: str | None
    camera_id: str | None
    zone_id: str | None
    ring: int | None
    count: int
    event_ids: list[str]
    first_at: datetime
    last_at: datetime
    escalation_level: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ack_note: str
    resolved_at: datetime | None
    has_snapshot: bool = False


class AckIn(ApiModel):
    note: str = Field("", max_length=4000)


class WebhookIn(ApiModel):
    site_id: str = Field(max_length=36)
    name: str = Field("", max_length=128)
    url: str = Field(pattern=r"^https?://", max_length=512)
    min_severity: Severity = Severity.info


class WebhookOut(ApiModel):
    id: str
    site_id: str
    name: str
    url: str
    min_severity: str
    enabled: bool


class WebhookCreated(WebhookOut):
    secret: str = Field(description="HMAC-SHA256 key for X-Anju-Signature; shown once")


class DeliveryOut(ApiModel):
    id: int
    alert_id: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


def _rule(session: SessionDep, rule_id: str, user: User) -> AlertRule:
    rule = session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFound("规则不存在", "rule not found")
    ensure_site_access(user, rule.site_id)
    return rule


@router.post("/alert-rules", response_model=RuleOut, status_code=201)
def create_rule(*, body: RuleIn, session: SessionDep, clock: ClockDep, user: Manager) -> AlertRule:
    ensure_site_access(user, body.site_id)
    alert_service.validate_rule(body.type.value, body.params, body.periods)
    now = clock.now()
    data = body.model_dump()
    data["type"] = body.type.value
    data["severity"] = body.severity.value
    rule = AlertRule(**data, created_at=now, updated_at=now)
    session.add(rule)
    session.commit()
    return rule


@router.get("/alert-rules", response_model=list[RuleOut])
def list_rules(*, site_id: str, session: SessionDep, user: Responder) -> list[AlertRule]:
    ensure_site_access(user, site_id)
    return list(
        session.scalars(select(AlertRule).where(AlertRule.site_id == site_id).order_by(AlertRule.name))
    )


@router.put("/alert-rules/{rule_id}", response_model=RuleOut)
def update_rule(
    *, rule_id: str, body: RuleIn, session: SessionDep, clock: ClockDep, user: Manager
) -> AlertRule:
    rule = _rule(session, rule_id, user)
    ensure_site_access(user, body.site_id)
    alert_service.validate_rule(body.type.value, body.params, body.periods)
    for key, value in body.model_dump().items():
        setattr(rule, key, value.value if hasattr(value, "value") else value)
    rule.updated_at = clock.now()
    session.commit()
    return rule


@router.delete("/alert-rules/{rule_id}", status_code=204)
def delete_rule(*, rule_id: str, session: SessionDep, user: Manager) -> None:
    session.delete(_rule(session, rule_id, user))
    session.commit()


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    *,
    session: SessionDep,
    user: Responder,
    site_id: str | None = None,
    status: str | None = Query(None, pattern="^(open|acknowledged|resolved)$"),
    type: str | None = Query(None, max_length=24),
    limit: int = Query(100, ge=1, le=500),
) -> list[AlertOut]:
    stmt = select(Alert)
    if site_id is not None:
        ensure_site_access(user, site_id)
        stmt = stmt.where(Alert.site_id == site_id)
    elif user.role != ADMIN:
        stmt = stmt.where(Alert.site_id.in_(user.site_ids))
    if status:
        stmt = stmt.where(Alert.status == status)
    if type:
        stmt = stmt.where(Alert.type == type)
    return _out(session, list(session.scalars(stmt.order_by(Alert.last_at.desc()).limit(limit))))


def _out(session: SessionDep, alerts: list[Alert]) -> list[AlertOut]:
    have = snapshot_service.with_snapshot(session, [eid for a in alerts for eid in a.event_ids])
    return [
        AlertOut.model_validate(a).model_copy(update={"has_snapshot": bool(have.intersection(a.event_ids))})
        for a in alerts
    ]


def _alert(session: SessionDep, alert_id: str, user: User) -> Alert:
    alert = alert_service.get_alert(session, alert_id)
    ensure_site_access(user, alert.site_id)
    return alert


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(*, alert_id: str, session: SessionDep, user: Responder) -> AlertOut:
    return _out(session, [_alert(session, alert_id, user)])[0]


@router.get(
    "/alerts/{alert_id}/snapshot",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no snapshot"}},
)
def get_alert_snapshot(
    *, alert_id: str, session: SessionDep, clock: ClockDep, reason: ReasonDep, user: Responder
) -> Response:
    """The newest snapshot (JPEG) of the alert's events; viewing a face image is audited."""
    alert = _alert(session, alert_id, user)
    snap = snapshot_service.newest_for(session, alert.event_ids)
    if snap is None:
        raise NotFound("该告警没有抓拍", "this alert has no snapshot")
    audit.record(
        session,
        actor=actor_of(user),
        action="view",
        object_type="alert_snapshot",
        object_id=snap.event_id,
        site_id=alert.site_id,
        reason=reason,
        detail={"alert_id": alert.id, "size": snap.size},
        now=clock.now(),
    )
    session.commit()
    # A face image: never cached by the browser or a proxy.
    return Response(
        content=snap.data, media_type=snap.content_type, headers={"Cache-Control": "no-store, private"}
    )


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut)
def ack_alert(
    *, alert_id: str, body: AckIn, request: Request, session: SessionDep, clock: ClockDep, user: Responder
) -> AlertOut:
    alert = _alert(session, alert_id, user)
    message = alert_service.acknowledge(session, alert, user.id, body.note, clock.now())
    session.commit()
    ops_runtime(request.app).notifier.publish([message])
    return _out(session, [alert])[0]


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve_alert(
    *, alert_id: str, body: AckIn, request: Request, session: SessionDep, clock: ClockDep, user: Responder
) -> AlertOut:
    alert = _alert(session, alert_id, user)
    message = alert_service.resolve(session, alert, user.id, body.note, clock.now())
    session.commit()
    ops_runtime(request.app).notifier.publish([message])
    return _out(session, [alert])[0]


@router.post("/webhooks", response_model=WebhookCreated, status_code=201)
def create_webhook(*, body: WebhookIn, session: SessionDep, clock: ClockDep, user: Manager) -> WebhookCreated:
    ensure_site_access(user, body.site_id)
    now = clock.now()
    hook = Webhook(
        site_id=body.site_id,
        name=body.name,
        url=body.url,
        secret=secrets.token_hex(32),
        min_severity=body.min_severity.value,
        created_at=now,
        updated_at=now,
    )
    session.add(hook)
    session.commit()
    return WebhookCreated.model_validate(hook)


@router.get("/webhooks", response_model=list[WebhookOut])
def list_webhooks(*, site_id: str, session: SessionDep, user: Manager) -> list[Webhook]:
    ensure_site_access(user, site_id)
    return list(session.scalars(select(Webhook).where(Webhook.site_id == site_id)))


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def webhook_deliveries(
    *, webhook_id: str, session: SessionDep, user: Manager, limit: int = Query(100, ge=1, le=1000)
) -> list[WebhookDelivery]:
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound("Webhook 不存在", "webhook not found")
    ensure_site_access(user, hook.site_id)
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(*, webhook_id: str, session: SessionDep, user: Manager) -> None:
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound("Webhook 不存在", "webhook not found")
    ensure_site_access(user, hook.site_id)
    session.delete(hook)
    session.commit()
