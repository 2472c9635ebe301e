"""The messages edge nodes and the central service exchange (schema version 1).

This package is deliberately small and dependency-light (pydantic only): the
gateway moves these objects, edge produces events and consumes whitelists,
central consumes events and produces whitelists. Nothing here does I/O.
"""

from contracts.messages import (
    SCHEMA_VERSION,
    CameraStatusEvent,
    Direction,
    DoorState,
    DoorStateEvent,
    Event,
    EventBase,
    HeartbeatEvent,
    LivenessFailureEvent,
    OutboxOverflowEvent,
    PassEvent,
    PersonKind,
    Severity,
    Snapshot,
    StrangerEvent,
    TailgatingEvent,
    VehiclePlateEvent,
    WatchlistHitEvent,
    parse_event,
)
from contracts.whitelist import (
    AccessWindow,
    DoorCommand,
    Template,
    WhitelistDelta,
    WhitelistPerson,
    WhitelistSnapshot,
)

__all__ = [
    "SCHEMA_VERSION",
    "AccessWindow",
    "CameraStatusEvent",
    "Direction",
    "DoorCommand",
    "DoorState",
    "DoorStateEvent",
    "Event",
    "EventBase",
    "HeartbeatEvent",
    "LivenessFailureEvent",
    "OutboxOverflowEvent",
    "PassEvent",
    "PersonKind",
    "Severity",
    "Snapshot",
    "StrangerEvent",
    "TailgatingEvent",
    "Template",
    "VehiclePlateEvent",
    "WatchlistHitEvent",
    "WhitelistDelta",
    "WhitelistPerson",
    "WhitelistSnapshot",
    "parse_event",
]
