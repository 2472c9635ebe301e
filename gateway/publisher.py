"""Central → nodes: central-signed whitelist snapshots (retained), deltas and door commands."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import BaseModel

from anju.clock import Clock, SystemClock
from contracts.whitelist import DoorCommand, WhitelistDelta, WhitelistSnapshot
from gateway import topics
from gateway.config import CentralLinkConfig
from gateway.mqtt import GatewayError, connect_async, make_client, reason_failed
from gateway.signing import CENTRAL_SIGNER_ID, Signer

log = logging.getLogger(__name__)


class WhitelistPublisher:
    """Publishes central-signed whitelist snapshots (retained), deltas and door commands."""

    def __init__(
        self, config: CentralLinkConfig, signer: Signer | None = None, clock: Clock | None = None
    ) -> None:
        self.config = config
        self.signer = signer or Signer.from_file(CENTRAL_SIGNER_ID, config.signing_key)
        self.clock: Clock = clock or SystemClock()
        self._client = make_client(f"{config.client_id}-pub-{uuid.uuid4().hex[:8]}", config.broker)
        self._connected = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_a: self._connected.clear()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason_failed(reason):
            log.error("broker refused whitelist publisher: %s", reason)
            return
        self._connected.set()

    def start(self, wait_connected_s: float = 10.0) -> None:
        connect_async(self._client, self.config.broker)
        self._client.loop_start()
        if not self._connected.wait(wait_connected_s):
            raise GatewayError(
                f"whitelist publisher: no broker at {self.config.broker.host}:{self.config.broker.port}"
            )

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _publish(self, topic: str, message: BaseModel, retain: bool, timeout: float) -> None:
        info = self._client.publish(topic, self.signer.seal(message), qos=1, retain=retain)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:
            raise GatewayError(f"publish to {topic} failed: {exc}") from exc
        if not info.is_published():
            raise GatewayError(f"broker did not acknowledge {topic} within {timeout:.0f}s")

    def publish_snapshot(
        self, snapshot: WhitelistSnapshot, zone_id: str | None = None, timeout: float = 10.0
    ) -> None:
        """Retained: a node that (re)connects receives the latest snapshot at once."""
        self._publish(topics.whitelist_topic(snapshot.site_id, zone_id, "snapshot"), snapshot, True, timeout)

    def publish_delta(self, delta: WhitelistDelta, zone_id: str | None = None, timeout: float = 10.0) -> None:
        """Live change for connected nodes (not retained: offline nodes catch up from the snapshot)."""
        self._publish(topics.whitelist_topic(delta.site_id, zone_id, "delta"), delta, False, timeout)

    def publish_update(
        self,
        delta: WhitelistDelta,
        snapshot: WhitelistSnapshot,
        zone_id: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        """A change: the delta for connected nodes, then the retained snapshot for everyone else.

        A node connecting between the two gets the old snapshot and then, being
        subscribed by then, the new one: nobody misses the change.
        """
        if snapshot.version != delta.version or snapshot.site_id != delta.site_id:
            raise ValueError(f"snapshot v{snapshot.version} does not match delta v{delta.version}")
        self.publish_delta(delta, zone_id, timeout)
        self.publish_snapshot(snapshot, zone_id, timeout)

    def send_door_command(self, command: DoorCommand, timeout: float = 10.0) -> None:
        self._publish(topics.door_command_topic(command.site_id, command.node_id), command, False, timeout)
