"""The edge node's end of the link: outbox → signed QoS 1 publishes, and verified whitelists/commands in.

Delivery is at-least-once end to end: an event stays in the :class:`~gateway.outbox.Outbox`
until central has stored it and sent a signed :class:`~contracts.link.EventAck`
(which implies the broker accepted the publish first). A drain thread keeps at
most ``window`` events unacknowledged, resends from the oldest unacknowledged
event after every reconnect and after ``ack_timeout_s``, and so survives
broker restarts, process kills and outages in order.

Whitelist snapshots/deltas and door commands are handed to the edge only after
central's signature verified and the message names this site (and node).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

import paho.mqtt.client as mqtt
from pydantic import Field, TypeAdapter, ValidationError

from anju.clock import Clock, SystemClock
from contracts.link import CentralOnline, EventAck, EventBatch, WhitelistRequest, WhitelistVersionReport
from contracts.messages import EventBase, HeartbeatEvent
from contracts.whitelist import DoorCommand, WhitelistDelta, WhitelistSnapshot
from gateway import topics
from gateway.config import EdgeLinkConfig
from gateway.events import EventFactory, as_utc
from gateway.mqtt import connect_async, make_client, reason_failed
from gateway.outbox import Outbox, OutboxItem
from gateway.signing import (
    CENTRAL_SIGNER_ID,
    NodeKey,
    Signer,
    StaticKeyRegistry,
    VerificationError,
    load_public_key,
    open_envelope,
)

log = logging.getLogger(__name__)

WhitelistMessage = WhitelistSnapshot | WhitelistDelta
_WHITELIST_ADAPTER: TypeAdapter[WhitelistMessage] = TypeAdapter(
    Annotated[WhitelistSnapshot | WhitelistDelta, Field(discriminator="type")]
)


class EdgeLink:
    """MQTT link of one edge node. Callbacks run on the MQTT network thread; keep them short."""

    def __init__(
        self,
        config: EdgeLinkConfig,
        outbox: Outbox,
        signer: Signer | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.outbox = outbox
        self.signer = signer or Signer.from_file(config.node_id, config.signing_key)
        if self.signer.signer_id != config.node_id:
            raise ValueError(f"signer is {self.signer.signer_id!r}, link is node {config.node_id!r}")
        self.clock: Clock = clock or SystemClock()
        self.central_keys = StaticKeyRegistry(
            NodeKey(site_id=None, signer_id=CENTRAL_SIGNER_ID, public_key=load_public_key(p))
            for p in config.central_public_keys
        )
        self.events = EventFactory(config.site_id, config.node_id, outbox, self.clock)
        self._client = make_client(f"anju-{config.site_id}-{config.node_id}", config.broker)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._client.on_subscribe = self._on_subscribe
        self._sub_mid: int | None = None
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._connected = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._inflight: OrderedDict[int, tuple[int, float]] = OrderedDict()  # seq -> (row id, sent at)
        self._last_row = 0
        self._ack_timeout = config.ack_timeout_s
        self._kick = False
        self._whitelist_version = 0
        self._confirmed_at = self.clock.monotonic()
        self._confirmed_since_connect = False
        self._stale_reported = False
        self._seen_commands: OrderedDict[str, None] = OrderedDict()
        self._started_at = self.clock.monotonic()
        self._next_heartbeat = 0.0
        self._cameras = (0, 0)
        self._on_whitelist: list[Callable[[WhitelistMessage], None]] = []
        self._on_door_command: list[Callable[[DoorCommand], None]] = []
        self._on_stale: list[Callable[[float], None]] = []
        self.stats = {
            "messages": 0,
            "published": 0,
            "acked": 0,
            "resends": 0,
            "refused_by_broker": 0,
            "rejected_in": 0,
        }

    # -- public API -------------------------------------------------------------

    def new_event_fields(self, captured_at: datetime | None = None) -> dict[str, Any]:
        return self.events.fields(captured_at)

    def _check_outgoing(self, event: EventBase) -> None:
        if event.site_id != self.config.site_id or event.node_id != self.config.node_id:
            raise ValueError(
                f"event {event.event_id} is not from {self.config.site_id}/{self.config.node_id}"
            )
        allowed = self.config.allowed_snapshot_kinds
        kind = str(getattr(event, "kind", ""))
        if allowed is not None and getattr(event, "snapshot", None) is not None and kind not in allowed:
            raise ValueError(f"{kind} event {event.event_id} carries a face snapshot the site policy forbids")

    def publish(self, event: EventBase) -> None:
        """Store ``event`` durably in the outbox; the drain thread sends it when connected."""
        self._check_outgoing(event)
        self.outbox.put(event)
        with self._changed:
            self._kick = True
            self._changed.notify_all()

    def publish_many(self, events: list[EventBase]) -> None:
        """Store several events in one outbox transaction (one disk sync), then send them."""
        for event in events:
            self._check_outgoing(event)
        self.outbox.put_many(events)
        with self._changed:
            self._kick = True
            self._changed.notify_all()

    def on_whitelist(self, callback: Callable[[WhitelistMessage], None]) -> None:
        self._on_whitelist.append(callback)

    def on_door_command(self, callback: Callable[[DoorCommand], None]) -> None:
        self._on_door_command.append(callback)

    def on_whitelist_stale(self, callback: Callable[[float], None]) -> None:
        """Called (with the age in seconds) once the list goes unconfirmed past ``max_whitelist_age_s``."""
        self._on_stale.append(callback)

    def report_whitelist_version(self, version: int) -> None:
        """Tell central which whitelist version this node now runs (retained)."""
        with self._lock:
            self._whitelist_version = version
        self._send_version_report()

    def set_camera_counts(self, online: int, total: int) -> None:
        self._cameras = (online, total)

    @property
    def connected(self) -> bool:
        return self._connected

    def wait_ready(self, timeout: float) -> bool:
        """Block until connected and subscribed to acks, commands and whitelists."""
        return self._subscribed.wait(timeout)

    def whitelist_age_s(self) -> float:
        """Seconds the local list went unconfirmed by central (0 while confirmed and connected)."""
        with self._lock:
            if self._connected and self._confirmed_since_connect:
                return 0.0
            return max(0.0, self.clock.monotonic() - self._confirmed_at)

    def whitelist_stale(self) -> bool:
        return self.whitelist_age_s() > self.config.max_whitelist_age_s

    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def wait_drained(self, timeout: float) -> bool:
        """Block until the outbox is empty (everything acknowledged by central) or ``timeout`` passes."""
        # A real-time wait (not the injected clock): the caller blocks a thread on it.
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.outbox.depth() > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
        return True

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._client.will_set(
            topics.status_topic(self.config.site_id, self.config.node_id),
            self._heartbeat_bytes(online=False),
            qos=1,
            retain=True,
        )
        connect_async(self._client, self.config.broker)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._drain_loop, name="edge-link-drain", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline (retained), disconnect and stop the threads. Unsent events stay in the outbox."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._connected:
            info = self._client.publish(
                topics.status_topic(self.config.site_id, self.config.node_id),
                self._heartbeat_bytes(online=False),
                qos=1,
                retain=True,
            )
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("offline status not sent before disconnect")
        self._client.disconnect()
        self._client.loop_stop()

    # -- MQTT callbacks -----------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason_failed(reason):
            log.error("broker refused node %s: %s", self.config.node_id, reason)
            return
        site, node = self.config.site_id, self.config.node_id
        subs = [
            (topics.ack_topic(site, node), 1),
            (topics.door_command_topic(site, node), 1),
            (topics.central_online_topic(site), 1),
            (f"{topics.PREFIX}/{site}/whitelist/all/+", 1),
        ]
        subs += [(f"{topics.PREFIX}/{site}/whitelist/zone/{z}/+", 1) for z in self.config.zones]
        _rc, self._sub_mid = client.subscribe(subs)
        with self._changed:
            self._connected = True
            self._confirmed_since_connect = False
            # Everything not acknowledged is sent again, oldest first; central de-duplicates.
            self._inflight.clear()
            self._last_row = 0
            self._next_heartbeat = 0.0
            self._changed.notify_all()
        log.info("node %s/%s connected to broker", site, node)
        self._send_version_report()
        request = WhitelistRequest(
            site_id=site, node_id=node, have_version=self._whitelist_version, requested_at=self.clock.now()
        )
        client.publish(topics.whitelist_request_topic(site, node), self.signer.seal(request), qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        if mid != self._sub_mid:
            return
        refused = [c for c in codes if reason_failed(c)]
        if refused:
            log.error("broker refused subscriptions of node %s: %s", self.config.node_id, refused)
        self._subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._subscribed.clear()
        with self._changed:
            if self._connected and self._confirmed_since_connect:
                self._confirmed_at = self.clock.monotonic()
            self._connected = False
            self._changed.notify_all()
        if not self._stop.is_set():
            log.warning(
                "node %s lost the broker (%s); events wait in the outbox", self.config.node_id, reason
            )

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        if reason_failed(reason):
            # The broker's ACL refused it: a configuration error worth shouting about.
            self.stats["refused_by_broker"] += 1
            log.error("broker refused publish %d from node %s: %s", mid, self.config.node_id, reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            env, _key = open_envelope(bytes(msg.payload), self.central_keys)
            if env.signer_id != CENTRAL_SIGNER_ID:
                raise VerificationError("signer_mismatch", f"{env.signer_id} is not central")
            if msg.topic.endswith("/ack"):
                self._handle_ack(EventAck.model_validate_json(env.payload))
            elif msg.topic.endswith("/central/online"):
                self._handle_central_online(CentralOnline.model_validate_json(env.payload))
            elif msg.topic.endswith("/cmd/door"):
                self._handle_command(DoorCommand.model_validate_json(env.payload))
            else:
                self._handle_whitelist(msg.topic, _WHITELIST_ADAPTER.validate_json(env.payload))
        except (VerificationError, ValidationError, ValueError) as exc:
            self.stats["rejected_in"] += 1
            log.error("refused message on %s: %s", msg.topic, exc)
        except Exception:  # a failing edge callback must not kill the network thread
            log.exception("handling message on %s failed", msg.topic)

    # -- handlers -----------------------------------------------------------------

    def _handle_ack(self, ack: EventAck) -> None:
        if ack.site_id != self.config.site_id or ack.node_id != self.config.node_id:
            raise ValueError(f"ack for {ack.site_id}/{ack.node_id}")
        removed = self.outbox.remove_seqs(ack.seq_ranges)
        with self._changed:
            for first, last in ack.seq_ranges:
                if last - first + 1 <= len(self._inflight):
                    for seq in range(first, last + 1):
                        self._inflight.pop(seq, None)
                else:
                    for seq in [s for s in self._inflight if first <= s <= last]:
                        del self._inflight[seq]
            self.stats["acked"] += removed
            self._ack_timeout = self.config.ack_timeout_s
            self._changed.notify_all()

    def _handle_central_online(self, hello: CentralOnline) -> None:
        if hello.site_id != self.config.site_id:
            raise ValueError(f"central online for site {hello.site_id}")
        with self._changed:
            if self._inflight:
                log.info("central (re)subscribed; resending %d unacknowledged events", len(self._inflight))
                first_row = next(iter(self._inflight.values()))[0]
                self._inflight.clear()
                self._last_row = first_row - 1
                self._changed.notify_all()

    def _handle_command(self, cmd: DoorCommand) -> None:
        if cmd.site_id != self.config.site_id or cmd.node_id != self.config.node_id:
            raise ValueError(f"door command {cmd.command_id} is for {cmd.site_id}/{cmd.node_id}")
        now = self.clock.now()
        if as_utc(cmd.expires_at) <= now:
            raise ValueError(f"door command {cmd.command_id} expired at {cmd.expires_at}")
        if as_utc(cmd.issued_at) > now + timedelta(seconds=self.config.max_clock_skew_s):
            raise ValueError(f"door command {cmd.command_id} issued in the future ({cmd.issued_at})")
        key = str(cmd.command_id)
        with self._lock:
            if key in self._seen_commands:
                raise ValueError(f"door command {cmd.command_id} replayed")
            self._seen_commands[key] = None
            while len(self._seen_commands) > 10_000:
                self._seen_commands.popitem(last=False)
        for callback in self._on_door_command:
            callback(cmd)

    def _handle_whitelist(self, topic: str, message: WhitelistMessage) -> None:
        if message.site_id != self.config.site_id:
            raise ValueError(f"whitelist for site {message.site_id} on {topic}")
        with self._lock:
            current = self._whitelist_version
            if isinstance(message, WhitelistSnapshot) and message.version < current:
                raise ValueError(f"snapshot version {message.version} is older than running {current}")
            self._confirmed_since_connect = True
            self._confirmed_at = self.clock.monotonic()
            self._stale_reported = False
        if isinstance(message, WhitelistSnapshot) and message.version == current:
            log.info("whitelist %d confirmed current by central", current)
            return
        for callback in self._on_whitelist:
            callback(message)

    # -- drain thread ---------------------------------------------------------------

    def _drain_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._drain_once()
                self._housekeeping()
            except Exception:  # keep draining whatever one round hit
                log.exception("edge link drain round failed")
                self._stop.wait(1.0)

    def _drain_once(self) -> None:
        with self._changed:
            if not self._connected:
                self._changed.wait(0.5)
                return
            now = self.clock.monotonic()
            if self._inflight:
                first_seq = next(iter(self._inflight))
                row, sent = self._inflight[first_seq]
                if now - sent > self._ack_timeout:
                    log.warning(
                        "central has not acknowledged seq %d in %.0fs; resending", first_seq, now - sent
                    )
                    self.stats["resends"] += 1
                    self._inflight.clear()
                    self._last_row = row - 1
                    # Back off while central stays silent, so a long outage is not a resend storm.
                    self._ack_timeout = min(self._ack_timeout * 2, max(300.0, self.config.ack_timeout_s))
            room = self.config.window - len(self._inflight)
            after = self._last_row
            self._kick = False
        if room <= 0:
            with self._changed:
                self._changed.wait(0.2)
            return
        items = self.outbox.peek(after, min(room, 500))
        if not items:
            with self._changed:
                if not self._kick:
                    self._changed.wait(0.2)
            return
        for group in self._batches(items):
            topic, payload = self._encode(group)
            self._client.publish(topic, payload, qos=1)
            with self._lock:
                if self._last_row != after:
                    return  # a reconnect or resend reset the cursor meanwhile
                sent = self.clock.monotonic()
                for item in group:
                    self._inflight[item.seq] = (item.row_id, sent)
                self._last_row = group[-1].row_id
                after = self._last_row
            self.stats["published"] += len(group)
            self.stats["messages"] += 1

    def _batches(self, items: list[OutboxItem]) -> list[list[OutboxItem]]:
        """Consecutive events grouped under the event-count and byte limits (a backlog drains in bulk)."""
        groups: list[list[OutboxItem]] = []
        size = 0
        for item in items:
            if (
                not groups
                or len(groups[-1]) >= self.config.batch_max_events
                or size + len(item.body) > self.config.batch_max_bytes
            ):
                groups.append([])
                size = 0
            groups[-1].append(item)
            size += len(item.body) + 1
        return groups

    def _encode(self, group: list[OutboxItem]) -> tuple[str, bytes]:
        site, node = self.config.site_id, self.config.node_id
        if len(group) == 1:
            body = group[0].body.decode("utf-8")
            return topics.event_topic(site, node, group[0].kind), self._sealed(body)
        # The stored bodies are already event JSON: splice them instead of re-serialising.
        head = EventBatch(site_id=site, node_id=node, events=[{}]).model_dump_json()
        prefix = head[: head.rindex("[{}]")]
        body = prefix + "[" + ",".join(i.body.decode("utf-8") for i in group) + "]}"
        return topics.event_topic(site, node, topics.EVENT_BATCH), self._sealed(body)

    def _sealed(self, payload: str) -> bytes:
        return self.signer.envelope(payload).model_dump_json().encode("utf-8")

    def _housekeeping(self) -> None:
        now = self.clock.monotonic()
        if self._connected and now >= self._next_heartbeat:
            self._next_heartbeat = now + self.config.heartbeat_interval_s
            self._client.publish(
                topics.status_topic(self.config.site_id, self.config.node_id),
                self._heartbeat_bytes(online=True),
                qos=1,
                retain=True,
            )
        age = self.whitelist_age_s()
        if age > self.config.max_whitelist_age_s and not self._stale_reported:
            self._stale_reported = True
            log.error("whitelist unconfirmed for %.0fs (max %.0fs)", age, self.config.max_whitelist_age_s)
            for callback in self._on_stale:
                callback(age)
            self._send_version_report()

    def _heartbeat_bytes(self, online: bool) -> bytes:
        online_cams, total_cams = self._cameras
        beat = HeartbeatEvent(
            event_id=uuid.uuid4(),
            site_id=self.config.site_id,
            node_id=self.config.node_id,
            seq=0,  # presence is not part of the event stream; seq is meaningless here
            captured_at=self.clock.now(),
            online=online,
            uptime_s=max(0.0, self.clock.monotonic() - self._started_at),
            whitelist_version=self._whitelist_version,
            outbox_depth=self.outbox.depth(),
            cameras_online=online_cams,
            cameras_total=total_cams,
        )
        return self.signer.seal(beat)

    def _send_version_report(self) -> None:
        if not self._connected:
            return
        report = WhitelistVersionReport(
            site_id=self.config.site_id,
            node_id=self.config.node_id,
            version=self._whitelist_version,
            reported_at=self.clock.now(),
            stale=self.whitelist_stale(),
        )
        self._client.publish(
            topics.whitelist_version_topic(self.config.site_id, self.config.node_id),
            self.signer.seal(report),
            qos=1,
            retain=True,
        )


__all__ = ["EdgeLink", "EventFactory", "WhitelistMessage"]
