"""In a real browser: a tailgating event published by an edge node through the real broker pops up
on the guard's alert wall (with sound and evidence) and is acknowledged with a note."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from contracts.messages import (
    CameraStatusEvent,
    Direction,
    DoorState,
    DoorStateEvent,
    LivenessFailureEvent,
    Snapshot,
    TailgatingEvent,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIGURES = "test-output/console-figures.json"


def _jpeg() -> bytes:
    import cv2
    import numpy as np

    img = np.full((48, 64, 3), 90, np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf.tobytes())


def _seed_gate(console_server: Any, api: Any, node_id: str) -> None:
    admin = api("admin")
    site = console_server.site_id
    zone = admin(
        "POST",
        "/zones",
        json={"site_id": site, "code": "gate-north", "name": "北门", "ring": 1, "kind": "gate"},
    )
    for code, kind, name, direction in (
        ("cam-north-in", "camera", "北门入口摄像机", "in"),
        ("door-north", "door", "北门闸机", "in"),
    ):
        admin(
            "POST",
            "/devices",
            json={
                "zone_id": zone["id"],
                "code": code,
                "type": kind,
                "name": name,
                "direction": direction,
                "node_id": node_id,
            },
        )
    admin(
        "POST",
        "/alert-rules",
        json={"site_id": site, "name": "尾随进入", "type": "tailgating", "severity": "high"},
    )
    admin(
        "POST",
        "/alert-rules",
        json={"site_id": site, "name": "活体失败", "type": "liveness", "severity": "medium"},
    )


def _wait(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_tailgating_pops_up_for_the_guard_and_is_acknowledged(
    console_server: Any, gateway_rig: Any, browser: Any, api: Any
) -> None:
    _seed_gate(console_server, api, gateway_rig.node_id)
    edge = gateway_rig.edge
    edge.publish(edge.events.make(CameraStatusEvent, camera_id="cam-north-in", status="online", fps=15.0))
    edge.publish(edge.events.make(DoorStateEvent, door_id="door-north", state=DoorState.closed))
    guard = api("guard")
    _wait(lambda: len(guard("GET", "/device-status", params={"site_id": console_server.site_id})) >= 2)

    run = browser("guard_alert")
    run.wait_for("READY", timeout=90)
    published_ms = int(time.time() * 1000)
    edge.publish(
        edge.events.make(
            TailgatingEvent,
            captured_at=datetime.now(timezone.utc),
            camera_id="cam-north-in",
            door_id="door-north",
            zone_id="gate-north",
            ring=1,
            direction=Direction.inbound,
            authorised=1,
            counted=2,
            snapshot=Snapshot.from_jpeg(_jpeg()),
        )
    )
    run.send(f"GO {published_ms}")
    run.wait_for("READY2", timeout=90)
    edge.publish(
        edge.events.make(LivenessFailureEvent, camera_id="cam-north-in", ring=1, score=0.12, threshold=0.5)
    )
    _wait(
        lambda: [
            a
            for a in guard("GET", "/alerts", params={"site_id": console_server.site_id})
            if a["type"] == "liveness"
        ]
    )
    run.send("GO2")
    run.wait_for("OFFLINE", timeout=90)
    edge.publish(
        edge.events.make(
            TailgatingEvent, camera_id="cam-north-in", door_id="door-east", ring=1, authorised=1, counted=3
        )
    )
    _wait(
        lambda: [
            a
            for a in guard("GET", "/alerts", params={"site_id": console_server.site_id})
            if a["type"] == "tailgating" and a["status"] == "open"
        ]
    )
    run.send("GO3")
    result = run.finish()

    assert "尾随" in result["title"]
    assert "cam-north-in" in result["evidence"]
    snap = result["snapshot"]
    assert snap["src"].startswith("blob:") and (snap["width"], snap["height"]) == (64, 48)
    assert result["plays"] >= 1, "the high-severity pop-up plays the alert sound"
    assert "北门闸机" in result["deviceText"]
    alerts = guard("GET", "/alerts", params={"site_id": console_server.site_id})
    tail = [a for a in alerts if a["type"] == "tailgating"]
    tail_all = tail
    acked = [a for a in tail if a["status"] == "acknowledged"]
    assert len(tail) == 2 and len(acked) == 1
    tail = acked
    assert tail[0]["ack_note"] == result["note"]
    assert tail[0]["acknowledged_by"]
    # Medium severity: on the wall and counted in the badge, but no pop-up and no sound.
    assert result["quietPopup"] is False and result["quietPlays"] == 0
    assert result["badge"] == "1"
    # Raised while the feed was down, popped up after the reconnect.
    still_open = [a for a in tail_all if a["status"] == "open"]
    assert [a["id"] for a in still_open] == [result["lateId"]]

    # The latency from publish (edge) to pop-up (browser) is a measured figure, reported beside
    # the 1 s target of the issue rather than asserted (no timed assertions on a shared runner).
    from pathlib import Path

    out = Path(__file__).resolve().parents[2] / FIGURES
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = json.loads(out.read_text()) if out.exists() else {}
    figures["tailgating_publish_to_popup_ms"] = result["latencyMs"]
    figures["tailgating_popup_target_ms"] = 1000
    out.write_text(json.dumps(figures, indent=2))
