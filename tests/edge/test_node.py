"""The whole edge node with real parts: RTSP camera, real face models, simulated door.

The RTSP server streams the Hamilton clip; Lin-Manuel Miranda and Alex Lacamoire are enrolled from
their example photos. Tests wait for events with deadlines and never assert on timings.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from anju.clock import SystemClock
from contracts.messages import Credential, DoorState, PersonKind
from edge.app import EdgeNode
from edge.doors import SimulatedDoor, SimulatedFireAlarm
from edge.rtsp_server import RtspServer
from gateway.signing import save_public_key

pytestmark = pytest.mark.slow


def start_node(cfg: Any, h: Any, persons: list[Any], pipeline: Any, **kw: Any) -> tuple[EdgeNode, Any]:
    node = EdgeNode(cfg, **kw)
    node.apply_whitelist(h.snapshot(pipeline, persons))
    events = h.Collector()
    node.add_event_listener(events)
    node.start()
    return node, events


def test_rtsp_gate_names_residents_reports_strangers_and_survives_a_cut(
    tmp_path: Path, h: Any, pipeline: Any, resident_persons: list[Any], rtsp: RtspServer
) -> None:
    cam = {
        "id": "cam-1",
        "source": "rtsp",
        "url": rtsp.url,
        "door_id": "door-1",
        "zone_id": "zone-a",
        "reconnect_initial_s": 0.2,
        "reconnect_max_s": 1.0,
        "stall_timeout_s": 3.0,
        "open_timeout_s": 20.0,  # the test server builds a pipeline per client: slow on a busy box
    }
    cfg = h.edge_config(tmp_path, [cam], decision={"regrant_after_s": 0.5})
    door = SimulatedDoor("door-1", SystemClock())
    node, events = start_node(cfg, h, resident_persons, pipeline, door_drivers={"door-1": door})
    try:
        assert events.wait_for(lambda ev: any(getattr(e, "person_id", None) == "p-lmm" for e in ev), 90)
        passes = events.of("pass")
        lmm = next(e for e in passes if e.person_id == "p-lmm")
        assert lmm.person_kind == PersonKind.owner and lmm.credential == Credential.face
        assert lmm.door_id == "door-1" and lmm.camera_id == "cam-1" and lmm.zone_id == "zone-a"
        assert lmm.score >= pipeline.match_threshold
        assert door.opened.wait(10) and door.open_count >= 1
        assert events.wait_for(lambda ev: any(e.kind == "stranger" for e in ev), 90)
        stranger = events.of("stranger")[0]
        assert stranger.embedding_b64 is None  # reconciliation is off by default
        assert stranger.snapshot is None  # strangers are not in the default snapshot policy
        assert stranger.best_score < pipeline.match_threshold

        # Cut the stream and bring it back: the node reconnects and recognises again.
        before = len(events.of("pass"))
        rtsp.stop()
        assert events.wait_for(lambda ev: any(getattr(e, "status", "") == "reconnecting" for e in ev), 60)
        rtsp.start()
        assert events.wait_for(
            lambda ev: [getattr(e, "status", "") for e in ev if e.kind == "camera_status"][-1:] == ["online"],
            60,
        )
        assert events.wait_for(lambda ev: len([e for e in ev if e.kind == "pass"]) > before, 90)
    finally:
        node.stop()
    seqs = [e.seq for e in events.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_tailgating_and_second_resident(
    tmp_path: Path, h: Any, pipeline: Any, resident_persons: list[Any]
) -> None:
    lmm = h.load_face("lin-manuel-miranda.png", 200)
    alex = h.load_face("alex-lacamoire.png", 180)
    other = h.load_face("obama-480p.jpg", 300)[40:240, 230:400]  # a face the node does not know
    blank: list[Any] = []
    video = h.compose_video(
        tmp_path / "gate.mp4",
        [
            (1.5, [(lmm, 60, 60)]),  # a resident walks up: the door opens
            (1.5, [(lmm, 80, 60), (other, 400, 80)]),  # someone follows while it is open
            (4.0, blank),  # the door relocks, the session ends
            (2.0, [(alex, 200, 80)]),  # the second resident, alone
            (3.0, blank),
        ],
    )
    cam = {"id": "cam-1", "source": "file", "url": str(video), "door_id": "door-1"}
    # Pasted still photos are exactly what liveness rejects (see the next test): checked off here.
    cfg = h.edge_config(
        tmp_path, [cam], doors=[{"id": "door-1", "open_time_s": 2.5}], decision={"require_liveness": False}
    )
    node, events = start_node(cfg, h, resident_persons, pipeline)
    try:
        assert events.wait_for(lambda ev: any(e.kind == "tailgating" for e in ev), 60)
        assert events.wait_for(lambda ev: any(getattr(e, "person_id", "") == "p-alex" for e in ev), 60)
    finally:
        node.stop()
    tg = events.of("tailgating")[0]
    assert tg.door_id == "door-1" and tg.authorised == 1 and tg.counted >= 2 and tg.person_ids == ["p-lmm"]
    assert tg.snapshot is not None and tg.snapshot.jpeg().startswith(b"\xff\xd8")  # policy names tailgating
    assert {e.person_id for e in events.of("pass")} == {"p-lmm", "p-alex"}
    assert len(events.of("tailgating")) == 1  # Alex alone is no tailgating


def test_photo_of_a_resident_is_denied_with_a_liveness_alert(
    tmp_path: Path, h: Any, pipeline: Any, resident_persons: list[Any]
) -> None:
    photo = h.load_face("lin-manuel-miranda.png", 200)
    video = h.compose_video(tmp_path / "spoof.mp4", [(2.5, [(photo, 60, 60)])])
    cfg = h.edge_config(tmp_path, [{"id": "cam-1", "source": "file", "url": str(video), "door_id": "door-1"}])
    door = SimulatedDoor("door-1", SystemClock())
    node, events = start_node(cfg, h, resident_persons, pipeline, door_drivers={"door-1": door})
    try:
        assert events.wait_for(lambda ev: any(e.kind == "liveness_failure" for e in ev), 60)
        assert events.wait_for(lambda ev: any(getattr(e, "status", "") == "offline" for e in ev), 60)
    finally:
        node.stop()
    alert = events.of("liveness_failure")[0]
    assert alert.claimed_person_id == "p-lmm" and alert.score < alert.threshold
    assert door.open_count == 0 and events.of("pass") == []


def test_watchlisted_face_alerts_and_never_opens(tmp_path: Path, h: Any, pipeline: Any) -> None:
    wanted = h.person(
        pipeline, "w-1", "lin-manuel-miranda.png", PersonKind.watchlist, watchlist_category="在逃"
    )
    video = h.compose_video(
        tmp_path / "w.mp4", [(2.0, [(h.load_face("lin-manuel-miranda.png", 200), 60, 60)])]
    )
    cfg = h.edge_config(tmp_path, [{"id": "cam-1", "source": "file", "url": str(video), "door_id": "door-1"}])
    door = SimulatedDoor("door-1", SystemClock())
    node, events = start_node(cfg, h, [wanted], pipeline, door_drivers={"door-1": door})
    try:
        assert events.wait_for(lambda ev: any(e.kind == "watchlist_hit" for e in ev), 60)
        assert events.wait_for(lambda ev: any(getattr(e, "status", "") == "offline" for e in ev), 60)
    finally:
        node.stop()
    hit = events.of("watchlist_hit")[0]
    assert hit.person_id == "w-1" and hit.category == "在逃" and hit.snapshot is not None
    assert door.open_count == 0 and events.of("pass") == []


def test_qr_visitor_pass_shown_to_the_camera(tmp_path: Path, h: Any, qrh: Any, pipeline: Any) -> None:
    signer = qrh.central_signer()
    save_public_key(signer.public_key, tmp_path / "central.pub.pem")
    good = qrh.make_pass(signer)
    expired = qrh.make_pass(
        signer,
        pass_id="vp-old",
        now=datetime(2025, 1, 1, tzinfo=timezone.utc),
    )
    video = h.compose_video(
        tmp_path / "qr.mp4",
        [(1.5, [(qrh.qr_frame(expired), 0, 0)]), (1.0, []), (1.5, [(qrh.qr_frame(good), 0, 0)]), (1.0, [])],
    )
    cam = {"id": "cam-1", "source": "file", "url": str(video), "door_id": "door-1", "ring": 1}
    cfg = h.edge_config(
        tmp_path,
        [cam],
        passes={"central_public_keys": [str(tmp_path / "central.pub.pem")], "qr_every_n_frames": 1},
    )
    door = SimulatedDoor("door-1", SystemClock())
    node, events = start_node(cfg, h, [], pipeline, door_drivers={"door-1": door})
    try:
        assert events.wait_for(lambda ev: any(e.kind == "pass" for e in ev), 60)
        assert events.wait_for(lambda ev: any(getattr(e, "status", "") == "offline" for e in ev), 60)
    finally:
        node.stop()
    passes = events.of("pass")
    assert len(passes) == 1  # shown for many frames, used once; the expired pass opens nothing
    p = passes[0]
    assert p.credential == Credential.qr and p.person_kind == PersonKind.visitor and p.pass_id == "vp-0001"
    assert door.open_count == 1


def test_fire_alarm_releases_every_door(tmp_path: Path, h: Any, pipeline: Any) -> None:
    fire = SimulatedFireAlarm()
    cfg = h.edge_config(tmp_path, [], doors=[{"id": "door-1"}, {"id": "door-2"}, {"id": "door-3"}])
    node, events = start_node(cfg, h, [], pipeline, fire_alarm=fire)
    try:
        drivers = [node.doors.driver(f"door-{i}") for i in (1, 2, 3)]
        fire.set(True)
        assert events.wait_for(
            lambda ev: sum(getattr(e, "state", None) == DoorState.fire_release for e in ev) == 3, 10
        )
        assert all(isinstance(d, SimulatedDoor) and d.released for d in drivers)
        fire.set(False)
        assert events.wait_for(
            lambda ev: sum(getattr(e, "state", None) == DoorState.fire_restored for e in ev) == 3, 10
        )
    finally:
        node.stop()
    assert not any(getattr(d, "released", True) for d in drivers)


def test_cached_whitelist_is_encrypted_and_survives_restart(
    tmp_path: Path, h: Any, pipeline: Any, resident_persons: list[Any]
) -> None:
    from edge.privacy import write_site_key

    write_site_key(tmp_path / "site.key")
    cfg = h.edge_config(tmp_path, [], privacy={"template_key_file": str(tmp_path / "site.key")})
    node = EdgeNode(cfg)
    node.apply_whitelist(h.snapshot(pipeline, resident_persons, version=7))
    node.outbox.close()
    blob = (cfg.data_dir / "whitelist.bin").read_bytes()
    assert blob.startswith(b"AJT1") and b"p-lmm" not in blob
    again = EdgeNode(cfg)  # a reboot without network: the list comes from the sealed cache
    assert again.whitelist.version == 7 and set(again.whitelist.persons) == {"p-lmm", "p-alex"}
    again.outbox.close()


def test_remote_door_command_pin_pad_and_metrics(tmp_path: Path, h: Any, pipeline: Any) -> None:
    import uuid
    from datetime import timedelta

    import httpx

    from contracts.whitelist import DoorCommand
    from edge.passes import hash_pin

    (tmp_path / "pins.txt").write_text(f"door-1 {hash_pin('1357')}\n")
    video = h.compose_video(tmp_path / "empty.mp4", [(1.0, [])])
    cam = {"id": "cam-1", "source": "file", "url": str(video), "door_id": "door-1", "loop": True}
    cfg = h.edge_config(
        tmp_path, [cam], passes={"pin_enabled": True, "pin_codes_file": str(tmp_path / "pins.txt")}
    )
    door = SimulatedDoor("door-1", SystemClock())
    node, events = start_node(cfg, h, [], pipeline, door_drivers={"door-1": door})
    try:
        now = datetime.now(timezone.utc)
        cmd = DoorCommand(
            command_id=uuid.uuid4(),
            site_id=h.SITE,
            node_id=h.NODE,
            door_id="door-1",
            requested_by="guard-7",
            reason="delivery",
            issued_at=now,
            expires_at=now + timedelta(seconds=30),
        )
        node._on_door_command(cmd)
        assert door.opened.wait(5)
        state = [e for e in events.of("door_state") if e.command_id == cmd.command_id]
        assert state and state[0].state == DoorState.opened and "guard-7" in state[0].reason
        stale = cmd.model_copy(update={"command_id": uuid.uuid4(), "expires_at": now - timedelta(seconds=1)})
        node._on_door_command(stale)
        assert not [e for e in events.of("door_state") if e.command_id == stale.command_id]

        for key in "9999#":
            node.pin_key("door-1", key)
        assert [e for e in events.of("pass") if e.credential == Credential.pin] == []
        results = [node.pin_key("door-1", k) for k in "1357#"]
        assert results[-1] is True
        pin_pass = [e for e in events.of("pass") if e.credential == Credential.pin]
        assert pin_pass and pin_pass[0].door_id == "door-1"

        assert node.metrics.port is not None
        assert events.wait_for(lambda ev: any(getattr(e, "status", "") == "online" for e in ev), 30)
        text = ""
        for _ in range(50):
            text = httpx.get(f"http://127.0.0.1:{node.metrics.port}/metrics").text
            if 'anju_edge_frames_analysed_total{camera="cam-1"}' in text:
                break
            threading.Event().wait(0.2)
        assert 'anju_edge_frames_analysed_total{camera="cam-1"}' in text
        assert 'anju_edge_detect_seconds_count{camera="cam-1"}' in text
        assert 'anju_edge_camera_online{camera="cam-1"} 1.0' in text
    finally:
        node.stop()


def test_whitelist_deltas_and_conflicts(
    tmp_path: Path, h: Any, pipeline: Any, resident_persons: list[Any]
) -> None:
    from contracts.whitelist import WhitelistDelta

    cfg = h.edge_config(tmp_path, [])
    node = EdgeNode(cfg)
    try:
        node.apply_whitelist(h.snapshot(pipeline, resident_persons, version=3))
        visitor = h.person(pipeline, "v-1", "obama_small.jpg", PersonKind.visitor)
        delta = WhitelistDelta(
            site_id=h.SITE,
            base_version=3,
            version=4,
            issued_at=datetime.now(timezone.utc),
            upserts=[visitor],
            removals=["p-alex"],
            reason="moved_out",
        )
        node.apply_whitelist(delta)
        assert node.whitelist.version == 4 and set(node.whitelist.persons) == {"p-lmm", "v-1"}
        vec = h.embed_photo(pipeline, h.EXAMPLES / "alex-lacamoire.png")
        best = node.whitelist.search(vec).best
        assert best is None or best.person_id != "p-alex"
        stale = delta.model_copy(update={"base_version": 9, "version": 10})
        node._apply_logged(stale)  # refused (needs a snapshot), logged, the node keeps its list
        assert node.whitelist.version == 4
    finally:
        node.outbox.close()
