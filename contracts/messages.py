"""Edge → central events.

Every event carries a globally unique ``event_id``, the producing node's
monotonically increasing ``seq``, the UTC capture time and the schema version.
Events are discriminated by ``kind``; :data:`Event` is the tagged union and
:func:`parse_event` the one way to turn bytes into a typed event.

Face images never travel by default: ``snapshot`` is filled only when the
site's alert policy names the event's kind (see ``edge`` privacy settings).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

SCHEMA_VERSION: Literal[1] = 1

# Identifiers appear in MQTT topics: keep them to a safe alphabet.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Ident = Annotated[str, Field(pattern=ID_PATTERN, description="site/node/camera/door identifier")]

MAX_SNAPSHOT_BYTES = 256 * 1024


class Message(BaseModel):
    """Strict, immutable base for every wire message."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(str, Enum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Direction(str, Enum):
    inbound = "in"
    outbound = "out"
    unknown = "unknown"


class PersonKind(str, Enum):
    owner = "owner"
    tenant = "tenant"
    family = "family"
    staff = "staff"
    visitor = "visitor"
    watchlist = "watchlist"


class Credential(str, Enum):
    face = "face"
    qr = "qr"
    pin = "pin"
    remote = "remote"


class Snapshot(Message):
    """A JPEG, attached only where the alert policy allows it for this event kind."""

    content_type: Literal["image/jpeg"] = "image/jpeg"
    data_b64: str = Field(description="base64 JPEG bytes", max_length=MAX_SNAPSHOT_BYTES * 4 // 3 + 8)

    @field_validator("data_b64")
    @classmethod
    def _valid_b64(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("snapshot is not valid base64") from exc
        if not raw.startswith(b"\xff\xd8"):
            raise ValueError("snapshot is not a JPEG")
        return value

    @classmethod
    def from_jpeg(cls, data: bytes) -> Snapshot:
        return cls(data_b64=base64.b64encode(data).decode("ascii"))

    def jpeg(self) -> bytes:
        return base64.b64decode(self.data_b64)


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


class EventBase(Message):
    """Fields every event carries."""

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: UUID = Field(description="globally unique; central de-duplicates on it")
    site_id: Ident
    node_id: Ident
    seq: int = Field(ge=0, description="per-node sequence number, increasing by one per event")
    captured_at: AwareDatetime = Field(description="capture time, UTC")
    severity: Severity = Severity.info

    @field_validator("captured_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return _utc(value)


class _CameraEvent(EventBase):
    camera_id: Ident
    zone_id: Ident | None = None
    ring: int | None = Field(default=None, ge=1, le=4, description="control ring of the camera's zone")
    direction: Direction = Direction.unknown


class PassEvent(_CameraEvent):
    """A person was let through (face, QR pass, PIN or remote command)."""

    kind: Literal["pass"] = "pass"
    person_id: str = Field(min_length=1, max_length=64)
    person_kind: PersonKind
    door_id: Ident | None = None
    credential: Credential = Credential.face
    score: float | None = Field(default=None, ge=-1.0, le=1.0, description="match similarity (face)")
    track_id: int | None = None
    pass_id: str | None = Field(default=None, max_length=64, description="visitor pass id (QR)")


class StrangerEvent(_CameraEvent):
    """A face that matched nobody on the whitelist."""

    kind: Literal["stranger"] = "stranger"
    track_id: int
    best_score: float = Field(ge=-1.0, le=1.0, description="similarity to the closest whitelist person")
    quality: float = Field(ge=0.0, le=1.0)
    model_id: str | None = Field(default=None, max_length=64)
    # The embedding lets central cluster unknown faces for 一标三实 reconciliation.
    # It is biometric data: sent only when the site policy enables reconciliation.
    embedding_b64: str | None = Field(default=None, max_length=8192, description="float32 vector, base64")
    snapshot: Snapshot | None = None


class WatchlistHitEvent(_CameraEvent):
    kind: Literal["watchlist_hit"] = "watchlist_hit"
    severity: Severity = Severity.high
    person_id: str = Field(min_length=1, max_length=64)
    category: str = Field(default="", max_length=64, description="重点人员 category")
    score: float = Field(ge=-1.0, le=1.0)
    track_id: int | None = None
    snapshot: Snapshot | None = None


class TailgatingEvent(_CameraEvent):
    kind: Literal["tailgating"] = "tailgating"
    severity: Severity = Severity.high
    door_id: Ident
    authorised: int = Field(ge=0, description="people the opening was granted for")
    counted: int = Field(ge=0, description="distinct face tracks that passed")
    person_ids: list[str] = Field(default_factory=list, max_length=32)
    snapshot: Snapshot | None = None


class LivenessFailureEvent(_CameraEvent):
    kind: Literal["liveness_failure"] = "liveness_failure"
    severity: Severity = Severity.medium
    score: float = Field(ge=0.0, le=1.0)
    threshold: float = Field(ge=0.0, le=1.0)
    claimed_person_id: str | None = Field(default=None, max_length=64)
    track_id: int | None = None
    snapshot: Snapshot | None = None


class DoorState(str, Enum):
    opened = "opened"
    closed = "closed"
    forced_open = "forced_open"
    held_open = "held_open"
    fire_release = "fire_release"
    fire_restored = "fire_restored"
    fault = "fault"


class DoorStateEvent(EventBase):
    kind: Literal["door_state"] = "door_state"
    door_id: Ident
    state: DoorState
    reason: str = Field(default="", max_length=256)
    command_id: UUID | None = Field(default=None, description="remote command that caused it, if any")


class CameraStatusEvent(EventBase):
    kind: Literal["camera_status"] = "camera_status"
    camera_id: Ident
    status: Literal["online", "offline", "reconnecting", "stalled"]
    fps: float | None = Field(default=None, ge=0.0)
    detail: str = Field(default="", max_length=512)


class HeartbeatEvent(EventBase):
    """Periodic node health; the last-will variant has ``online=False``."""

    kind: Literal["heartbeat"] = "heartbeat"
    online: bool = True
    uptime_s: float = Field(default=0.0, ge=0.0)
    whitelist_version: int = Field(default=0, ge=0)
    outbox_depth: int = Field(default=0, ge=0)
    cameras_online: int = Field(default=0, ge=0)
    cameras_total: int = Field(default=0, ge=0)


class VehiclePlateEvent(EventBase):
    kind: Literal["vehicle_plate"] = "vehicle_plate"
    camera_id: Ident
    plate: str = Field(min_length=2, max_length=16)
    direction: Direction = Direction.unknown
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    plate_color: str | None = Field(default=None, max_length=16)


class OutboxOverflowEvent(EventBase):
    """The edge outbox reached its disk bound and dropped low-severity events (never silently)."""

    kind: Literal["outbox_overflow"] = "outbox_overflow"
    severity: Severity = Severity.high
    dropped: int = Field(ge=1)
    oldest_dropped_at: AwareDatetime
    newest_dropped_at: AwareDatetime


Event = Annotated[
    PassEvent
    | StrangerEvent
    | WatchlistHitEvent
    | TailgatingEvent
    | LivenessFailureEvent
    | DoorStateEvent
    | CameraStatusEvent
    | HeartbeatEvent
    | VehiclePlateEvent
    | OutboxOverflowEvent,
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_KINDS: tuple[str, ...] = (
    "pass",
    "stranger",
    "watchlist_hit",
    "tailgating",
    "liveness_failure",
    "door_state",
    "camera_status",
    "heartbeat",
    "vehicle_plate",
    "outbox_overflow",
)


def parse_event(data: bytes | str) -> Event:
    """Validate JSON into a typed event; raises ``pydantic.ValidationError``."""
    return EVENT_ADAPTER.validate_json(data)
