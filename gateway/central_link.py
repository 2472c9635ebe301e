"""Central's end of the link: the event consumer and the whitelist / door command publisher.

:class:`CentralConsumer` takes events through a shared subscription (several
central instances split the load), verifies each node's signature and identity,
applies the replay window, stores batches idempotently and only then calls
``on_events`` with the events that were new, and acknowledges what is stored
back to each node so its outbox can let go. Anything it cannot accept becomes a
dead letter with a reason; it never stops on bad input.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from anju.clock import Clock, SystemClock
from contracts.link import CentralOnline, EventAck, WhitelistRequest, WhitelistVersionReport
from contracts.messages import EVENT_ADAPTER, SCHEMA_VERSION, Event, HeartbeatEvent
from gateway import topics
from gateway.config import CentralLinkConfig
from gateway.metrics import GatewayMetrics, default_metrics
from gateway.mqtt import GatewayError, connect_async, make_client, reason_failed
from gateway.publisher import WhitelistPublisher
from gateway.signing import CENTRAL_SIGNER_ID, KeyRegistry, Signer, VerificationError, open_envelope
from gateway.store import Accepted, DeadLetter, SqlEventStore, StoreResult

log = logging.getLogger(__name__)


class _TypedBatch(BaseModel):
    """The fast-path view of an :class:`~contracts.link.EventBatch` (every event valid)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["event_batch"]
    site_id: str
    node_id: str
    events: list[Event]


_TYPED_BATCH: TypeAdapter[_TypedBatch] = TypeAdapter(_TypedBatch)


@dataclass(frozen=True)
class RawMessage:
    topic: str
    payload: bytes


@dataclass
class PreparedBatch:
    """A verified batch waiting for the database."""

    now: datetime
    started: float
    accepted: list[Accepted] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    acks: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))


def seq_ranges(seqs: list[int]) -> list[tuple[int, int]]:
    """Compress sequence numbers into sorted inclusive ranges."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


class CentralConsumer:
    """Consumes every node's events; see the module docstring."""

    def __init__(
        self,
        config: CentralLinkConfig,
        store: SqlEventStore,
        key_registry: KeyRegistry,
        on_events: Callable[[list[Event]], None],
        clock: Clock | None = None,
        *,
        signer: Signer | None = None,
        metrics: GatewayMetrics | None = None,
        on_status: Callable[[HeartbeatEvent], None] | None = None,
        on_whitelist_version: Callable[[WhitelistVersionReport], None] | None = None,
        on_whitelist_request: Callable[[WhitelistRequest], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.keys = key_registry
        self.on_events = on_events
        self.clock: Clock = clock or SystemClock()
        self.signer = signer or Signer.from_file(CENTRAL_SIGNER_ID, config.signing_key)
        self.metrics = metrics or default_metrics()
        self.on_status = on_status
        self.on_whitelist_version = on_whitelist_version
        self.on_whitelist_request = on_whitelist_request
        self._queue: queue.Queue[RawMessage] = queue.Queue(maxsize=config.queue_max)
        self._prepared: queue.Queue[PreparedBatch] = queue.Queue(maxsize=2)
        self._client = make_client(f"{config.client_id}-{uuid.uuid4().hex[:8]}", config.broker)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._sub_mid: int | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        # Connected is not enough: a message published between CONNACK and SUBACK is not routed to
        # us. start() waits for this one, so "started" means "the broker delivers to this consumer".
        self._subscribed = threading.Event()
        self._refused: list[str] = []
        self._thread: threading.Thread | None = None
        self.stats: dict[str, int] = defaultdict(int)

    # -- lifecycle --------------------------------------------------------------------

    def start(self, wait_connected_s: float | None = None) -> None:
        """Connect and start consuming; with ``wait_connected_s``, return only once subscribed."""
        connect_async(self._client, self.config.broker)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._work_loop, name="central-consumer", daemon=True)
        self._thread.start()
        if wait_connected_s is not None and not self.wait_ready(wait_connected_s):
            where = f"{self.config.broker.host}:{self.config.broker.port}"
            if self._refused:
                raise GatewayError(f"central consumer: the broker at {where} refused {self._refused}")
            raise GatewayError(
                f"central consumer: not subscribed on the broker at {where} within {wait_connected_s:.0f}s"
            )

    def wait_ready(self, timeout: float) -> bool:
        """Block until the broker has acknowledged the consumer's subscriptions."""
        return self._subscribed.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._client.disconnect()
        self._client.loop_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- MQTT callbacks ---------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason_failed(reason):
            log.error("broker refused central consumer: %s", reason)
            return
        site, group = self.config.site_id, self.config.share_group
        subs = [(topics.central_event_subscription(site, group), 1)]
        subs += [(t, 1) for t in topics.central_node_subscriptions(site, group)]
        _rc, self._sub_mid = client.subscribe(subs)
        self._connected.set()
        log.info("central consumer connected, subscribed to %s", [s for s, _ in subs])

    def _on_subscribe(self, client: mqtt.Client, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        if mid != self._sub_mid:
            return
        refused = [c for c in codes if reason_failed(c)]
        if refused:
            self._refused = [str(c) for c in refused]
            log.error("broker refused central's subscriptions: %s", refused)
        else:
            self._subscribed.set()
        if self.config.site_id is not None:
            # Nodes that published while nobody was subscribed resend now instead of after their timeout.
            hello = CentralOnline(site_id=self.config.site_id, at=self.clock.now())
            client.publish(topics.central_online_topic(self.config.site_id), self.signer.seal(hello), qos=1)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if not self._stop.is_set():
            log.warning("central consumer lost the broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        # Blocking here when the queue is full is the back-pressure: the broker holds the rest.
        self._queue.put(RawMessage(msg.topic, bytes(msg.payload)))

    # -- processing -----------------------------------------------------------------------

    def _work_loop(self) -> None:
        """Collect and verify batches; a second thread stores them, so parsing overlaps database time."""
        store_thread = threading.Thread(target=self._store_loop, name="central-consumer-store", daemon=True)
        store_thread.start()
        try:
            while not self._stop.is_set():
                batch = self._collect()
                if batch:
                    prepared = self.prepare(batch)
                    while not self._stop.is_set():
                        try:
                            self._prepared.put(prepared, timeout=0.2)
                            break
                        except queue.Full:
                            continue
        finally:
            store_thread.join(5.0)

    def _collect(self) -> list[RawMessage]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        size = len(first.payload)
        deadline = time.monotonic() + self.config.batch_wait_s
        while len(batch) < self.config.batch_max and size < self.config.batch_max_bytes:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            batch.append(item)
            size += len(item.payload)
        return batch

    def _store_loop(self) -> None:
        while not self._stop.is_set():
            try:
                prepared = self._prepared.get(timeout=0.2)
            except queue.Empty:
                continue
            delay = 0.5
            while not self._stop.is_set():
                try:
                    self.commit(prepared)
                    break
                except Exception:
                    # Usually the database is away: keep the batch and retry; nodes keep theirs too.
                    self.stats["store_retries"] += 1
                    log.exception("storing a batch failed; retrying in %.1fs", delay)
                    self._stop.wait(delay)
                    delay = min(delay * 2, 30.0)

    def handle_batch(self, batch: list[RawMessage]) -> StoreResult:
        """Verify, store and acknowledge one batch; call ``on_events`` with the new events."""
        return self.commit(self.prepare(batch))

    def prepare(self, batch: list[RawMessage]) -> PreparedBatch:
        """Verify and parse a batch (no database access)."""
        started = time.perf_counter()
        now = self.clock.now()
        prepared = PreparedBatch(now=now, started=started)
        for msg in batch:
            self.metrics.received.inc()
            try:
                if topics.parse_event_topic(msg.topic) is None:
                    self._handle_node_message(msg, prepared.dead)
                    continue
                outcomes = self._check_message(msg, now, prepared.acks)
            except Exception as exc:  # a bug must cost one message, not the consumer
                log.exception("checking a message on %s failed", msg.topic)
                prepared.dead.append(
                    DeadLetter(msg.topic, msg.payload, "internal_error", repr(exc)[:1000], now)
                )
                continue
            for outcome in outcomes:
                if isinstance(outcome, DeadLetter):
                    prepared.dead.append(outcome)
                else:
                    prepared.accepted.append(outcome)
        return prepared

    def commit(self, prepared: PreparedBatch) -> StoreResult:
        """Store a prepared batch, then count, call ``on_events`` with the new events, and acknowledge."""
        now = prepared.now
        result = self.store.store(prepared.accepted, prepared.dead, now, self.config.seq_window)
        for letter in prepared.dead:
            self.metrics.rejected.labels(reason=letter.reason).inc()
            self.stats[f"dead_{letter.reason}"] += 1
            log.warning("dead letter (%s) on %s: %s", letter.reason, letter.topic, letter.detail)
        if result.replayed:
            self.metrics.rejected.labels(reason="replay_seq").inc(len(result.replayed))
            self.stats["dead_replay_seq"] += len(result.replayed)
        self.metrics.stored.inc(len(result.inserted))
        self.metrics.duplicates.inc(len(result.duplicates))
        self.stats["stored"] += len(result.inserted)
        self.stats["duplicates"] += len(result.duplicates)
        if result.inserted:
            try:
                self.on_events(result.inserted)
            except Exception:
                log.exception("on_events failed for %d stored events", len(result.inserted))
        self._send_acks(prepared.acks, now)
        self.metrics.batch_seconds.observe(time.perf_counter() - prepared.started)
        return result

    def _check_message(
        self, msg: RawMessage, now: datetime, acks: dict[tuple[str, str], list[int]]
    ) -> list[Accepted | DeadLetter]:
        """One event message (single event or batch) → an outcome per event."""

        def dead(reason: str, detail: str, payload: bytes | None = None) -> DeadLetter:
            return DeadLetter(msg.topic, msg.payload if payload is None else payload, reason, detail, now)

        if len(msg.payload) > self.config.max_payload_bytes:
            return [dead("oversized", f"{len(msg.payload)} bytes > {self.config.max_payload_bytes}")]
        where = topics.parse_event_topic(msg.topic)
        if where is None:
            return [dead("bad_topic", f"not an event topic: {msg.topic}")]
        try:
            env, key = open_envelope(msg.payload, self.keys)
        except VerificationError as exc:
            return [dead(exc.reason, exc.message)]
        if key.site_id != where.site_id or key.signer_id != where.node_id:
            return [
                dead(
                    "identity_mismatch",
                    f"signed by {key.site_id}/{key.signer_id}, topic {where.site_id}/{where.node_id}",
                )
            ]
        fast = self._fast_path(env.payload, where, msg.payload, dead, now, acks)
        if fast is not None:
            return fast
        # Something in it is wrong: go event by event to find what, and keep the rest.
        try:
            data = json.loads(env.payload)
        except ValueError as exc:
            return [dead("malformed", f"payload is not JSON: {exc}")]
        if not isinstance(data, dict):
            return [dead("malformed", "payload is not a JSON object")]
        if where.kind != topics.EVENT_BATCH:
            return [self._check_event(data, where, msg.payload, dead, now, acks)]
        if (
            data.get("type") != "event_batch"
            or data.get("site_id") != where.site_id
            or data.get("node_id") != where.node_id
            or not isinstance(data.get("events"), list)
        ):
            return [dead("malformed", "not an event batch of this node")]
        out: list[Accepted | DeadLetter] = []
        for item in data["events"]:
            if not isinstance(item, dict):
                out.append(dead("malformed", "batch item is not a JSON object", json.dumps(item).encode()))
                continue
            out.append(self._check_event(item, where, None, dead, now, acks))
        return out

    def _fast_path(
        self,
        payload: str,
        where: topics.EventTopic,
        raw: bytes,
        dead: Callable[..., DeadLetter],
        now: datetime,
        acks: dict[tuple[str, str], list[int]],
    ) -> list[Accepted | DeadLetter] | None:
        """Validate a well-formed message in one pass (pydantic-core); None when it is not well-formed."""
        try:
            if where.kind == topics.EVENT_BATCH:
                batch = _TYPED_BATCH.validate_json(payload)
                if batch.site_id != where.site_id or batch.node_id != where.node_id:
                    return None
                pairs = [(ev, ev.model_dump_json()) for ev in batch.events]
            else:
                event = EVENT_ADAPTER.validate_json(payload)
                pairs = [(event, payload)]
        except ValidationError:
            return None
        out: list[Accepted | DeadLetter] = []
        for event, text in pairs:
            acks[(where.site_id, where.node_id)].append(event.seq)
            refusal = self._refuse(event, where, now)
            if refusal is None:
                out.append(Accepted(event=event, payload=text))
            else:
                out.append(dead(refusal[0], refusal[1], raw if len(pairs) == 1 else text.encode()))
        return out

    def _refuse(self, event: Event, where: topics.EventTopic, now: datetime) -> tuple[str, str] | None:
        """Identity and replay-window checks on a valid event; (reason, detail) when refused."""
        if event.site_id != where.site_id or event.node_id != where.node_id:
            return "identity_mismatch", f"event says {event.site_id}/{event.node_id}, topic {where}"
        if where.kind not in (topics.EVENT_BATCH, event.kind):
            return "identity_mismatch", f"{event.kind} event on the {where.kind} topic"
        if event.captured_at < now - timedelta(seconds=self.config.max_event_age_s):
            return "replay_window", f"captured_at {event.captured_at} is older than the replay window"
        if event.captured_at > now + timedelta(seconds=self.config.max_clock_skew_s):
            return "replay_window", f"captured_at {event.captured_at} is in the future"
        return None

    def _check_event(
        self,
        data: dict[str, Any],
        where: topics.EventTopic,
        raw: bytes | None,
        dead: Callable[..., DeadLetter],
        now: datetime,
        acks: dict[tuple[str, str], list[int]],
    ) -> Accepted | DeadLetter:
        def own(reason: str, detail: str) -> DeadLetter:
            # In a batch, keep the offending event itself, not the whole batch.
            return dead(reason, detail, raw if raw is not None else json.dumps(data).encode())

        seq = data.get("seq")
        if isinstance(seq, int) and seq >= 0:
            # Verified as this node's: acknowledge even if refused below, so it is not resent forever.
            acks[(where.site_id, where.node_id)].append(seq)
        if data.get("schema_version") != SCHEMA_VERSION:
            return own(
                "schema_version", f"schema_version {data.get('schema_version')!r}, want {SCHEMA_VERSION}"
            )
        try:
            event = EVENT_ADAPTER.validate_python(data)
        except ValidationError as exc:
            return own("invalid_event", str(exc.errors()[:3])[:1000])
        refusal = self._refuse(event, where, now)
        if refusal is not None:
            return own(*refusal)
        return Accepted(event=event, payload=event.model_dump_json())

    def _handle_node_message(self, msg: RawMessage, dead: list[DeadLetter]) -> None:
        now = self.clock.now()
        where = topics.parse_node_topic(msg.topic)
        try:
            if where is None:
                raise VerificationError("bad_topic", f"unexpected topic {msg.topic}")
            if len(msg.payload) > self.config.max_payload_bytes:
                raise VerificationError("oversized", f"{len(msg.payload)} bytes")
            site_id, node_id, what = where
            env, key = open_envelope(msg.payload, self.keys)
            if key.site_id != site_id or key.signer_id != node_id:
                raise VerificationError("identity_mismatch", f"signed by {key.site_id}/{key.signer_id}")
            model: BaseModel
            if what == "status":
                model = HeartbeatEvent.model_validate_json(env.payload)
                callback: Any = self.on_status
            elif what == "whitelist/version":
                model = WhitelistVersionReport.model_validate_json(env.payload)
                callback = self.on_whitelist_version
            else:
                model = WhitelistRequest.model_validate_json(env.payload)
                callback = self.on_whitelist_request
            if getattr(model, "site_id", None) != site_id or getattr(model, "node_id", None) != node_id:
                raise VerificationError("identity_mismatch", f"message names another node than {msg.topic}")
        except VerificationError as exc:
            dead.append(DeadLetter(msg.topic, msg.payload, exc.reason, exc.message, now))
            return
        except ValidationError as exc:
            dead.append(
                DeadLetter(msg.topic, msg.payload, "invalid_message", str(exc.errors()[:3])[:1000], now)
            )
            return
        if callback is not None:
            try:
                callback(model)
            except Exception:
                log.exception("callback for %s failed", msg.topic)

    def _send_acks(self, acks: dict[tuple[str, str], list[int]], now: Any) -> None:
        for (site_id, node_id), seqs in acks.items():
            ack = EventAck(site_id=site_id, node_id=node_id, seq_ranges=seq_ranges(seqs), issued_at=now)
            self._client.publish(topics.ack_topic(site_id, node_id), self.signer.seal(ack), qos=1)


__all__ = [
    "CentralConsumer",
    "GatewayError",
    "PreparedBatch",
    "RawMessage",
    "WhitelistPublisher",
    "seq_ranges",
]
