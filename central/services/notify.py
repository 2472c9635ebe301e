"""Alert delivery: the live feed for consoles, signed webhooks and MQTT.

* :class:`AlertHub` fans alert notices out to WebSocket/SSE subscribers. It is
  fed from any thread (ingest runs in the gateway consumer's thread) and hands
  messages to each subscriber's asyncio queue on that subscriber's loop. A slow
  console loses its oldest notices, never blocks ingest, and is told so.
* Webhooks: each alert becomes one :class:`~central.models.alerts.WebhookDelivery`
  row per subscribed webhook in the same transaction as the alert (so nothing is
  lost on a crash); :func:`deliver_due` POSTs due rows with an HMAC-SHA256
  signature header, and on failure schedules a retry with exponential backoff.
  Every attempt is in the delivery log.
* :class:`MqttAlertPublisher` publishes notices to ``anju/v1/<site>/central/alerts`` (QoS 1).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from anju.clock import Clock
from central.models.alerts import Alert, Webhook, WebhookDelivery
from central.services.alert_rules import severity_at_least

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Anju-Signature"
EVENT_HEADER = "X-Anju-Event"
NoticeKind = Literal[
    "alert.created", "alert.updated", "alert.escalated", "alert.acknowledged", "alert.resolved"
]


class AlertMessage(BaseModel):
    """An alert as consoles, webhooks and MQTT subscribers receive it."""

    model_config = ConfigDict(frozen=True)

    notice: NoticeKind
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
    ack_note: str
    sent_at: datetime
    has_snapshot: bool = False  # set by ingest when one of the events has a stored snapshot

    @classmethod
    def of(cls, alert: Alert, notice: NoticeKind, sent_at: datetime) -> AlertMessage:
        return cls(
            notice=notice,
            id=alert.id,
            site_id=alert.site_id,
            rule_id=alert.rule_id,
            type=alert.type,
            severity=alert.severity,
            status=alert.status,
            title_zh=alert.title_zh,
            title_en=alert.title_en,
            person_id=alert.person_id,
            camera_id=alert.camera_id,
            zone_id=alert.zone_id,
            ring=alert.ring,
            count=alert.count,
            event_ids=list(alert.event_ids[-20:]),
            first_at=alert.first_at,
            last_at=alert.last_at,
            escalation_level=alert.escalation_level,
            acknowledged_by=alert.acknowledged_by,
            ack_note=alert.ack_note,
            sent_at=sent_at,
        )


class AlertSink(Protocol):
    def publish(self, messages: list[AlertMessage]) -> None: ...


# ---------------------------------------------------------------- live feed


@dataclass(eq=False)
class Subscription:
    """One console connection: the sites it may see and its bounded queue."""

    site_ids: frozenset[str] | None  # None = every site (admin)
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[AlertMessage | None] = field(default_factory=lambda: asyncio.Queue(maxsize=256))
    dropped: int = 0

    def wants(self, message: AlertMessage) -> bool:
        return self.site_ids is None or message.site_id in self.site_ids

    def _put(self, message: AlertMessage) -> None:
        # Runs on the subscriber's loop: drop the oldest instead of blocking the producer.
        while self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)


class AlertHub:
    """Thread-safe fan-out of alert notices to live subscribers."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()

    def subscribe(self, site_ids: Iterable[str] | None) -> Subscription:
        sub = Subscription(
            site_ids=None if site_ids is None else frozenset(site_ids), loop=asyncio.get_running_loop()
        )
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, messages: list[AlertMessage]) -> None:
        with self._lock:
            subs = list(self._subs)
        for message in messages:
            for sub in subs:
                if sub.wants(message):
                    try:
                        sub.loop.call_soon_threadsafe(sub._put, message)
                    except RuntimeError:  # the subscriber's loop is closed: it is going away
                        self.unsubscribe(sub)


class FanOut:
    """Several sinks behind one; a failing sink is logged and never stops the others."""

    def __init__(self, sinks: list[AlertSink] | None = None) -> None:
        self.sinks: list[AlertSink] = list(sinks or [])

    def publish(self, messages: list[AlertMessage]) -> None:
        if not messages:
            return
        for sink in self.sinks:
            try:
                sink.publish(messages)
            except Exception:
                log.exception("alert sink %s failed", type(sink).__name__)


# ---------------------------------------------------------------- webhooks


def sign_body(secret: str, timestamp: int, body: bytes) -> str:
    """Header value ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does: check the HMAC and that the timestamp is recent (replay window)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign_body(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class WebhookPolicy:
    max_attempts: int = 8
    base_delay_s: float = 2.0
    max_delay_s: float = 3600.0
    timeout_s: float = 5.0

    def delay(self, attempts: int) -> float:
        """Backoff after ``attempts`` failed attempts: base·2^(n-1), capped."""
        return float(min(self.max_delay_s, self.base_delay_s * (2 ** max(0, attempts - 1))))


def enqueue_webhooks(session: Session, messages: list[AlertMessage], now: datetime) -> int:
    """Add one pending delivery per (message, enabled webhook of its site at or above its severity)."""
    added = 0
    sites = {m.site_id for m in messages}
    if not sites:
        return 0
    hooks = session.scalars(select(Webhook).where(Webhook.site_id.in_(sites), Webhook.enabled)).all()
    for message in messages:
        for hook in hooks:
            if hook.site_id != message.site_id or not severity_at_least(message.severity, hook.min_severity):
                continue
            session.add(
                WebhookDelivery(
                    webhook_id=hook.id,
                    alert_id=message.id,
                    body=message.model_dump_json(),
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            added += 1
    return added


def deliver_due(
    session: Session,
    client: httpx.Client,
    clock: Clock,
    policy: WebhookPolicy | None = None,
    limit: int = 100,
) -> int:
    """Attempt every due delivery once; returns how many were delivered. Commits."""
    policy = policy or WebhookPolicy()
    now = clock.now()
    due = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.id)
        .limit(limit)
    ).all()
    delivered = 0
    for item in due:
        hook = session.get(Webhook, item.webhook_id)
        if hook is None or not hook.enabled:
            item.state = "failed"
            item.last_error = "webhook removed or disabled"
            continue
        body = item.body.encode("utf-8")
        stamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_body(hook.secret, stamp, body),
            EVENT_HEADER: json.loads(item.body).get("notice", "alert"),
        }
        item.attempts += 1
        try:
            resp = client.post(hook.url, content=body, headers=headers, timeout=policy.timeout_s)
            item.last_status = resp.status_code
            ok = 200 <= resp.status_code < 300
            item.last_error = "" if ok else f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:
            ok = False
            item.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if ok:
            item.state = "delivered"
            item.delivered_at = now
            delivered += 1
        elif item.attempts >= policy.max_attempts:
            item.state = "failed"
            log.warning("webhook %s gave up on alert %s: %s", hook.url, item.alert_id, item.last_error)
        else:
            item.next_attempt_at = now + timedelta(seconds=policy.delay(item.attempts))
    session.commit()
    return delivered


# ---------------------------------------------------------------- MQTT


class MqttAlertPublisher:
    """Publishes alert notices with QoS 1 on a connected paho client (owned by the caller)."""

    def __init__(self, client: Any, topic_prefix: str = "anju/v1") -> None:
        self._client = client
        self._prefix = topic_prefix.rstrip("/")

    def topic(self, site_id: str) -> str:
        return f"{self._prefix}/{site_id}/central/alerts"

    def publish(self, messages: list[AlertMessage]) -> None:
        for message in messages:
            self._client.publish(self.topic(message.site_id), message.model_dump_json(), qos=1)
