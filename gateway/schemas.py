"""JSON Schema export of every wire message (``docs/schemas/``), for integrators in other languages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contracts.link import (
    CentralOnline,
    EventAck,
    EventBatch,
    SignedEnvelope,
    WhitelistRequest,
    WhitelistVersionReport,
)
from contracts.messages import (
    EVENT_ADAPTER,
    CameraStatusEvent,
    DoorStateEvent,
    HeartbeatEvent,
    LivenessFailureEvent,
    OutboxOverflowEvent,
    PassEvent,
    StrangerEvent,
    TailgatingEvent,
    VehiclePlateEvent,
    WatchlistHitEvent,
)
from contracts.whitelist import DoorCommand, WhitelistDelta, WhitelistSnapshot

SCHEMA_BASE_ID = "https://anju.example/schemas/v1/"

MODELS: dict[str, type[BaseModel]] = {
    "event.pass": PassEvent,
    "event.stranger": StrangerEvent,
    "event.watchlist_hit": WatchlistHitEvent,
    "event.tailgating": TailgatingEvent,
    "event.liveness_failure": LivenessFailureEvent,
    "event.door_state": DoorStateEvent,
    "event.camera_status": CameraStatusEvent,
    "event.heartbeat": HeartbeatEvent,
    "event.vehicle_plate": VehiclePlateEvent,
    "event.outbox_overflow": OutboxOverflowEvent,
    "whitelist.snapshot": WhitelistSnapshot,
    "whitelist.delta": WhitelistDelta,
    "whitelist.version_report": WhitelistVersionReport,
    "whitelist.request": WhitelistRequest,
    "door_command": DoorCommand,
    "event_ack": EventAck,
    "event_batch": EventBatch,
    "central_online": CentralOnline,
    "envelope": SignedEnvelope,
}


def _dump(name: str, schema: dict[str, Any]) -> str:
    doc: dict[str, object] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_ID}{name}.json",
    }
    doc.update(schema)
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_schemas() -> dict[str, str]:
    """File name → JSON text for every message, plus ``event.json`` (the tagged union of all events)."""
    files = {f"{name}.json": _dump(name, model.model_json_schema()) for name, model in MODELS.items()}
    files["event.json"] = _dump("event", EVENT_ADAPTER.json_schema())
    return files


def export_schemas(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(render_schemas().items()):
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(out: Path) -> list[str]:
    """Names of schema files in ``out`` that are missing or differ from the code."""
    stale = []
    for name, text in sorted(render_schemas().items()):
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale
