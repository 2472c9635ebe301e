"""The central side of event ingest, and the background jobs that follow events.

:class:`Ingestor.on_events` is the hook the gateway's ``CentralConsumer`` calls
with the events it has *newly* stored in its raw store (``SqlEventStore``): it
records them (``central.services.events``), updates visits, runs the alert rules
and, only after its transaction commits, hands the alert notices to the
notifier (live feed, MQTT). Webhook deliveries are rows written in the same
transaction and sent by :class:`OpsWorker`.

:class:`OpsWorker` is one thread on the injected clock that every ``tick_s``
runs the whitelist worker (pending changes, expiries, publication), the
periodic alert rules (长时间不出现, escalation), due webhook deliveries and,
once a day, retention.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from anju.clock import Clock
from anju.config import StrictModel
from central.services.alerts import AlertEngine
from central.services.doors import mark_executed
from central.services.notify import AlertSink, FanOut, WebhookPolicy, deliver_due
from central.services.retention import RetentionSettings, run_retention
from central.services.retention_admin import effective_settings
from central.services.visitors import expire_passes, record_visits
from central.services.whitelist import CHANGES_PENDING, WhitelistCompiler
from contracts import Event, parse_event

log = logging.getLogger(__name__)

MAX_FAILED_BATCHES = 1000


class Ingestor:
    """Records fresh events and raises alerts; safe to call from the consumer's thread."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        notifier: AlertSink | None = None,
        engine: AlertEngine | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.notifier = notifier or FanOut()
        self.engine = engine or AlertEngine(clock)
        self.events_recorded = 0
        self._failed: deque[list[Event]] = deque()
        self._failed_lock = threading.Lock()

    def on_events(self, events: list[Event]) -> None:
        """Process newly stored gateway events (already de-duplicated by the raw store).

        A batch that fails (database down, lock timeout) is kept and retried by :meth:`retry_failed`
        (the ops worker calls it every tick): the raw store has the events, the records must follow.
        """
        if not events:
            return
        try:
            self._process(events)
        except SQLAlchemyError:
            log.exception("recording %d events failed; will retry", len(events))
            with self._failed_lock:
                if len(self._failed) >= MAX_FAILED_BATCHES:
                    dropped = self._failed.popleft()
                    log.error("retry queue full: %d events wait for catch-up at the next start", len(dropped))
                self._failed.append(events)

    def _process(self, events: list[Event]) -> None:
        from central.services.camera_uptime import record_camera_status
        from central.services.events import record_events
        from central.services.snapshots import mark_snapshots, store_snapshots

        with self.session_factory() as session:
            records = record_events(session, events, self.clock.now())
            store_snapshots(session, events, {rec.event_id for rec in records})
            record_camera_status(session, events)  # uptime history (skips ids already kept)
            record_visits(session, records)
            mark_executed(session, events, self.clock.now())  # remote door commands the edge carried out
            messages = self.engine.on_records(session, records)
            messages = mark_snapshots(session, messages)
            session.commit()
        self.events_recorded += len(records)
        self.notifier.publish(messages)

    def retry_failed(self) -> int:
        """Retry batches that failed earlier, oldest first; returns how many batches succeeded."""
        done = 0
        while True:
            with self._failed_lock:
                if not self._failed:
                    return done
                events = self._failed[0]
            try:
                self._process(events)
            except SQLAlchemyError:
                log.warning("retrying %d events failed again; next tick", len(events))
                return done
            with self._failed_lock:
                if self._failed and self._failed[0] is events:
                    self._failed.popleft()
            done += 1

    @property
    def pending_retries(self) -> int:
        with self._failed_lock:
            return len(self._failed)

    def catch_up(self, engine: Engine, since: datetime, batch: int = 1000) -> int:
        """Record events the gateway's raw store holds from ``since`` on but the records lack
        (a failed hook call, a crash between the two stores). Idempotent; returns events recorded."""
        from gateway.store import gateway_events

        table = gateway_events
        before = self.events_recorded
        offset = 0
        while True:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(table.c.payload)
                    .where(table.c.received_at >= since)
                    .order_by(table.c.received_at, table.c.event_id)
                    .limit(batch)
                    .offset(offset)
                ).all()
            if not rows:
                return self.events_recorded - before
            offset += len(rows)
            events = [parse_event(p if isinstance(p, str | bytes) else json.dumps(p)) for (p,) in rows]
            self.on_events(events)


class OpsWorker:
    """The periodic jobs, on one thread; ``tick()`` runs one round (tests call it directly)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        *,
        notifier: AlertSink | None = None,
        whitelist: WhitelistCompiler | None = None,
        retention: RetentionSettings | None = None,
        webhook_policy: WebhookPolicy | None = None,
        http: httpx.Client | None = None,
        tick_s: float = 1.0,
        ingestor: Ingestor | None = None,
    ) -> None:
        self.ingestor = ingestor
        self.session_factory = session_factory
        self.clock = clock
        self.notifier = notifier or FanOut()
        self.whitelist = whitelist
        self.retention = retention or RetentionSettings()
        self.webhook_policy = webhook_policy or WebhookPolicy()
        self.http = http or httpx.Client()
        self.tick_s = tick_s
        self.alerts = AlertEngine(clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_retention: datetime | None = None

    def tick(self) -> None:
        now = self.clock.now()
        if self.whitelist is not None:
            with self.session_factory() as session:
                self.whitelist.process_changes(session)
                self.whitelist.expire(session)
                self.whitelist.publish_pending(session)
        else:
            # no link to edges: passes still expire (the whitelist catches up when a link starts)
            with self.session_factory() as session:
                expire_passes(session, now)
        if self.ingestor is not None:
            self.ingestor.retry_failed()
        with self.session_factory() as session:
            messages = self.alerts.run_periodic(session)
            session.commit()
        self.notifier.publish(messages)
        with self.session_factory() as session:
            deliver_due(session, self.http, self.clock, self.webhook_policy)
        if self._last_retention is None or (now - self._last_retention).total_seconds() >= 86400:
            with self.session_factory() as session:
                # the configured periods, shortened where an administrator set lower ones
                glob, per_site = effective_settings(session, self.retention)
                run_retention(session, glob, now, per_site)
            self._last_retention = now

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("ops worker round failed; retrying next tick")
            # Wake early when a whitelist change was committed: revocations go out at once.
            if CHANGES_PENDING.wait(self.tick_s):
                CHANGES_PENDING.clear()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="anju-ops", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        CHANGES_PENDING.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.http.close()


class OpsRuntime:
    """The live parts one central process shares: the alert hub, the ingest hook and the worker."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        *,
        whitelist: WhitelistCompiler | None = None,
        extra_sinks: list[AlertSink] | None = None,
        retention: RetentionSettings | None = None,
    ) -> None:
        from central.services.notify import AlertHub

        self.hub = AlertHub()
        self.notifier = FanOut([self.hub, *(extra_sinks or [])])
        self.ingestor = Ingestor(session_factory, clock, self.notifier)
        self.worker = OpsWorker(
            session_factory,
            clock,
            notifier=self.notifier,
            whitelist=whitelist,
            ingestor=self.ingestor,
            retention=retention,
        )


def ops_runtime(app: Any) -> OpsRuntime:
    """The app's runtime (``app.state.services.extras["ops"]``), created on first use.

    The gateway's ``CentralConsumer`` is given ``ops_runtime(app).ingestor.on_events``.
    """
    extras = app.state.services.extras
    runtime = extras.get("ops")
    if runtime is None:
        with _RUNTIME_LOCK:
            runtime = extras.get("ops")
            if runtime is None:
                runtime = OpsRuntime(
                    app.state.session_factory, app.state.clock, retention=app.state.settings.retention
                )
                extras["ops"] = runtime
    assert isinstance(runtime, OpsRuntime)
    return runtime


_RUNTIME_LOCK = threading.Lock()


async def start_ops(app: Any) -> None:
    """Startup hook: the periodic worker runs outside tests (tests drive ``tick()`` on a FakeClock)."""
    runtime = ops_runtime(app)
    if app.state.settings.mqtt.enabled:
        link = GatewayLink(app, runtime)
        app.state.services.extras["gateway_link"] = link
        link.start()
    if app.state.settings.environment != "test":
        runtime.worker.start()


async def stop_ops(app: Any) -> None:
    link = app.state.services.extras.pop("gateway_link", None)
    if isinstance(link, GatewayLink):
        link.stop()
    runtime = app.state.services.extras.get("ops")
    if isinstance(runtime, OpsRuntime):
        runtime.worker.stop()


class LinkOptions(StrictModel):
    """Central's keys in ``settings.mqtt.extra``; the rest goes to ``gateway.config.CentralLinkConfig``."""

    node_keys: dict[str, Path] = Field(
        default_factory=dict,
        description="site id → directory of <node>.sign.pub.pem (as broker-config writes)",
    )
    model_id: str = Field("", max_length=64, description="embedding model the site's edges run")


class GatewayLink:
    """The MQTT side of central: event consumer, whitelist publisher, alert publisher."""

    def __init__(self, app: Any, runtime: OpsRuntime) -> None:
        from central.keys import app_signer
        from central.services.notify import MqttAlertPublisher
        from central.services.whitelist import DbTemplateSource
        from gateway.central_link import CentralConsumer, WhitelistPublisher
        from gateway.config import BrokerConfig, CentralLinkConfig
        from gateway.mqtt import connect_async, make_client
        from gateway.signing import NodeKey, StaticKeyRegistry, load_public_key
        from gateway.store import SqlEventStore

        settings = app.state.settings
        mqtt_settings = settings.mqtt
        extra = dict(mqtt_settings.extra)
        options = LinkOptions.model_validate(
            {k: extra.pop(k) for k in list(extra) if k in LinkOptions.model_fields}
        )
        signer = app_signer(app)
        from central.keys import key_path

        config = CentralLinkConfig(
            # extra["broker"]: further BrokerConfig fields (e.g. protocol "3.1.1" for the demo's broker)
            broker=BrokerConfig(host=mqtt_settings.host, port=mqtt_settings.port, **extra.pop("broker", {})),
            client_id=mqtt_settings.client_id,
            signing_key=key_path(settings),
            **extra,
        )
        keys = StaticKeyRegistry()
        for site_id, directory in options.node_keys.items():
            for path in sorted(Path(directory).glob("*.sign.pub.pem")):
                node_id = path.name[: -len(".sign.pub.pem")]
                keys.add(NodeKey(site_id=site_id, signer_id=node_id, public_key=load_public_key(path)))
        clock = app.state.clock
        self.store = SqlEventStore(app.state.engine)
        self.store.create_tables()
        self.publisher = WhitelistPublisher(config, signer, clock)
        self.whitelist = WhitelistCompiler(clock, DbTemplateSource(options.model_id), self.publisher)
        runtime.worker.whitelist = self.whitelist
        self.consumer = CentralConsumer(
            config,
            self.store,
            keys,
            runtime.ingestor.on_events,
            clock,
            signer=signer,
            on_whitelist_request=lambda req: self._send_snapshot(req.site_id),
        )
        self._alert_client = make_client(f"{config.client_id}-alerts-{uuid.uuid4().hex[:8]}", config.broker)
        self._connect_async = connect_async
        self._config = config
        self._session_factory = app.state.session_factory
        self._runtime = runtime
        self._engine = app.state.engine
        self._clock = clock
        runtime.notifier.sinks.append(MqttAlertPublisher(self._alert_client))

    def _send_snapshot(self, site_id: str) -> None:
        with self._session_factory() as session:
            snapshot = self.whitelist.latest_snapshot(session, site_id)
        self.publisher.publish_snapshot(snapshot)

    def start(self) -> None:
        # events stored by the gateway while central was down or whose hook call failed
        caught = self._runtime.ingestor.catch_up(self._engine, self._clock.now() - timedelta(hours=1))
        if caught:
            log.info("recorded %d events the raw store held but the records lacked", caught)
        self._connect_async(self._alert_client, self._config.broker)
        self._alert_client.loop_start()
        self.publisher.start()
        self.consumer.start()

    def stop(self) -> None:
        self.consumer.stop()
        self.publisher.stop()
        self._alert_client.disconnect()
        self._alert_client.loop_stop()
