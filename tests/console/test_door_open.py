"""In a real browser: the guard opens a door remotely with a reason; the signed command reaches the edge
node's gateway link through the real broker, the edge reports the door opened with the command's id and
the console shows it confirmed; the audit log has the guard's reason."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.messages import DoorState, DoorStateEvent
from contracts.whitelist import DoorCommand

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REASON = "快递员送货，住户电话确认"


@pytest.fixture(scope="module")
def result(browser: Any, console_server: Any, api: Any, gateway_rig: Any) -> dict[str, Any]:
    admin = api("admin")
    zone = admin(
        "POST",
        "/zones",
        json={
            "site_id": console_server.site_id,
            "code": "gate-east",
            "name": "东门",
            "ring": 1,
            "kind": "gate",
        },
    )
    door = admin(
        "POST",
        "/devices",
        json={
            "zone_id": zone["id"],
            "code": "door-east",
            "type": "door",
            "name": "东门闸机",
            "node_id": gateway_rig.node_id,
        },
    )
    received: list[DoorCommand] = []
    edge = gateway_rig.edge

    def on_command(cmd: DoorCommand) -> None:
        # the edge node releases the door and reports it with the command's id (edge.app does the same)
        received.append(cmd)
        edge.publish(
            edge.events.make(
                DoorStateEvent,
                door_id=cmd.door_id,
                state=DoorState.opened,
                reason=f"remote open by {cmd.requested_by}",
                command_id=cmd.command_id,
            )
        )

    edge.on_door_command(on_command)
    out: dict[str, Any] = browser("door_open", DEVICE_ID=door["id"]).finish(timeout=120)
    out["received"] = received
    out["door"] = door
    return out


def test_guard_opens_a_door_with_a_reason(result: dict[str, Any], console_server: Any, api: Any) -> None:
    assert result["label"] == "远程开门"
    assert any("开门指令已发送" in t for t in result["toasts"]) and any(
        "门已打开" in t for t in result["toasts"]
    )
    [cmd] = result["received"]
    assert cmd.door_id == "door-east" and cmd.reason == REASON and cmd.site_id == console_server.site_id
    row = next(r for r in result["rows"] if REASON in r)
    assert "已执行" in row and "东门闸机" in row
    commands = api("guard")("GET", "/doors/commands", params={"site_id": console_server.site_id})
    assert commands[0]["status"] == "executed" and commands[0]["id"] == str(cmd.command_id)
    trail = api("admin")("GET", "/audit", params={"object_id": result["door"]["id"]})
    assert any(e["action"] == "door.open" and e["reason"] == REASON for e in trail)
