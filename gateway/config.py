"""Configuration slices for the two ends of the gateway link.

The edge node gets an :class:`EdgeLinkConfig`, the central service a
:class:`CentralLinkConfig`; both share :class:`BrokerConfig` (where the broker
is and how to authenticate to it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from anju.config import StrictModel
from contracts.messages import Ident


class TlsConfig(StrictModel):
    """Client TLS material as written by ``anju gateway broker-config``."""

    ca_file: Path = Field(description="the site's dedicated CA certificate (PEM)")
    cert_file: Path = Field(description="this client's certificate (PEM); its CN is its identity")
    key_file: Path = Field(description="this client's private key (PEM)")


class BrokerConfig(StrictModel):
    host: str = Field(default="127.0.0.1", description="broker host name or address")
    port: int = Field(default=1883, ge=1, le=65535)
    tls: TlsConfig | None = Field(default=None, description="required in production; None = plain TCP")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_min_s: float = Field(default=0.2, gt=0, le=60)
    reconnect_max_s: float = Field(default=10.0, gt=0, le=600)
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description="MQTT version; 3.1.1 only for brokers without MQTT 5 (the demo's embedded broker)",
    )

    @model_validator(mode="after")
    def _reconnect_order(self) -> BrokerConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


class EdgeLinkConfig(StrictModel):
    site_id: Ident
    node_id: Ident
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    signing_key: Path = Field(description="this node's Ed25519 private key (PEM)")
    central_public_keys: list[Path] = Field(
        min_length=1, description="central's Ed25519 public keys (PEM); whitelists/commands must verify"
    )
    zones: list[Ident] = Field(default_factory=list, description="zones whose whitelists this node takes")
    window: int = Field(
        default=10_000, ge=1, le=1_000_000, description="events sent but not yet acknowledged by central"
    )
    ack_timeout_s: float = Field(
        default=10.0, gt=0, le=3600, description="resend events central has not acknowledged after this"
    )
    max_whitelist_age_s: float = Field(
        default=300.0, gt=0, description="trust the local list this long without confirmation from central"
    )
    heartbeat_interval_s: float = Field(default=30.0, gt=0, le=3600)
    max_clock_skew_s: float = Field(default=120.0, ge=0, description="door command issued_at tolerance")
    allowed_snapshot_kinds: list[str] | None = Field(
        default=None,
        description="event kinds that may carry a face snapshot (site alert policy); None = not checked here",
    )
    batch_max_events: int = Field(
        default=200, ge=1, le=10_000, description="events sent under one signature when a backlog exists"
    )
    batch_max_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)


class CentralLinkConfig(StrictModel):
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    client_id: str = Field(default="anju-central", min_length=1, max_length=64)
    signing_key: Path = Field(description="central's Ed25519 private key (PEM)")
    site_id: Ident | None = Field(default=None, description="consume one site only; None = every site")
    share_group: str | None = Field(
        default="anju-central",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description=(
            "MQTT shared-subscription group spreading events over central instances; None = plain "
            "subscriptions (brokers without $share/, e.g. the demo's embedded broker): then exactly "
            "ONE central instance may run, or every instance would receive every event"
        ),
    )
    batch_max: int = Field(default=1000, ge=1, le=50_000, description="MQTT messages per database batch")
    batch_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="stop filling a database batch at this many payload bytes",
    )
    batch_wait_s: float = Field(default=0.02, ge=0, le=5, description="wait this long to fill a batch")
    max_payload_bytes: int = Field(default=1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    max_event_age_s: float = Field(
        default=30 * 86400.0,
        gt=0,
        description="replay window: events captured longer ago are refused (must exceed outbox backlog)",
    )
    max_clock_skew_s: float = Field(default=300.0, ge=0, description="events captured in the future")
    seq_window: int = Field(
        default=1_000_000,
        ge=1,
        description="replay window: a seq this far below the node's highest is refused",
    )
    queue_max: int = Field(default=100_000, ge=1000, description="messages buffered between MQTT and DB")
