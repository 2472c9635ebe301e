"""Live delivery: WebSocket feed scoped by site, ack via API, LPR over HTTP, visitor pass API, webhooks."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import httpx
import pytest
from fastapi import FastAPI, WebSocketDisconnect
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.ingest import ops_runtime
from central.keys import app_signer
from central.models.alerts import AlertRule, Webhook
from central.services.notify import SIGNATURE_HEADER, WebhookPolicy, deliver_due, verify_signature
from contracts.passes import decode_pass
from gateway.signing import verify
from tests.central.ops_helpers import household, stranger


def test_ws_feed_ack_and_scope(
    app: FastAPI, client: TestClient, db: Session, clock: FakeClock, make_site, login
) -> None:
    site, other = make_site(), make_site()
    now = clock.now()
    for s in (site, other):
        db.add(
            AlertRule(
                site_id=s.id, name="s", type="stranger", params={"count": 1}, created_at=now, updated_at=now
            )
        )
    db.commit()
    _, headers = login("guard", [site.id])
    token = headers["Authorization"][7:]
    with client.websocket_connect(f"/api/v1/ws/alerts?token={token}") as ws:
        assert ws.receive_json()["notice"] == "hello"
        ops_runtime(app).ingestor.on_events([stranger(other, now)])  # not this guard's site
        ops_runtime(app).ingestor.on_events([stranger(site, now)])
        msg = ws.receive_json()
        assert (
            msg["notice"] == "alert.created"
            and msg["site_id"] == site.id
            and msg["title_zh"].startswith("陌生人")
        )
        r = client.post(f"/api/v1/alerts/{msg['id']}/ack", json={"note": "已处理"}, headers=headers)
        assert r.status_code == 200 and r.json()["status"] == "acknowledged"
        ack = ws.receive_json()
        assert ack["notice"] == "alert.acknowledged" and ack["ack_note"] == "已处理"
    listed = client.get("/api/v1/alerts", headers=headers).json()
    assert [a["site_id"] for a in listed] == [site.id]
    other_alert = client.get(f"/api/v1/alerts?site_id={other.id}", headers=headers)
    assert other_alert.status_code == 403
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/api/v1/ws/alerts?token=bogus") as ws,
    ):
        ws.receive_json()
    assert closed.value.code == 4401


def test_lpr_http_and_visitor_pass(
    app: FastAPI, client: TestClient, db: Session, clock: FakeClock, make_site, login
) -> None:
    site = make_site()
    _, pm = login("property_manager", [site.id])
    zone = client.post(
        "/api/v1/zones",
        json={"site_id": site.id, "code": "gate-n", "name": "北门", "ring": 1, "kind": "gate"},
        headers=pm,
    )
    assert zone.status_code == 201, zone.text
    dev = client.post(
        "/api/v1/devices",
        json={
            "zone_id": zone.json()["id"],
            "code": "lpr-n",
            "type": "lpr",
            "direction": "in",
            "node_id": "node-1",
        },
        headers=pm,
    )
    assert dev.status_code == 201, dev.text
    token = client.post(f"/api/v1/devices/{dev.json()['id']}/token", headers=pm).json()["token"]
    rule = client.post(
        "/api/v1/alert-rules",
        json={"site_id": site.id, "name": "布控", "type": "vehicle_watch", "severity": "high"},
        headers=pm,
    )
    assert rule.status_code == 201, rule.text
    v = client.post(
        "/api/v1/vehicles", json={"site_id": site.id, "plate": "粤B·D12345", "watchlisted": True}, headers=pm
    )
    assert v.status_code == 201 and v.json()["plate"] == "粤BD12345"
    read = {"plate": "粤B D12345", "captured_at": clock.now().isoformat()}
    assert (
        client.post("/api/v1/lpr/events", json=read, headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )
    r1 = client.post("/api/v1/lpr/events", json=read, headers={"Authorization": f"Bearer {token}"})
    r2 = client.post("/api/v1/lpr/events", json=read, headers={"Authorization": f"Bearer {token}"})
    assert (
        r1.status_code == 202 and r1.json()["event_id"] == r2.json()["event_id"]
    )  # a retried POST counts once
    records = client.get(f"/api/v1/events?site_id={site.id}&plate=粤BD12345", headers=pm).json()["items"]
    assert len(records) == 1 and records[0]["direction"] == "in" and records[0]["camera_id"] == "lpr-n"
    (alert,) = client.get(f"/api/v1/alerts?site_id={site.id}", headers=pm).json()
    assert alert["type"] == "vehicle_watch" and alert["count"] == 1

    hh = household(db, site, clock.now())
    _, guard = login("guard", [site.id])
    body = {
        "site_id": site.id,
        "host_household_id": hh.id,
        "name": "欧阳访客",
        "valid_from": clock.now().isoformat(),
        "valid_until": (clock.now() + timedelta(hours=3)).isoformat(),
        "rings": [1, 2],
    }
    p = client.post("/api/v1/visitors", json=body, headers=guard)
    assert p.status_code == 201, p.text
    signer = app_signer(app)
    payload = decode_pass(p.json()["token"], lambda b, s: verify(signer.public_key, signer.signer_id, b, s))
    assert payload.holder == "欧***" and payload.rings == [1, 2] and payload.host_household_id == hh.id
    assert payload.is_valid_at(clock.now()) and not payload.is_valid_at(clock.now() + timedelta(hours=3))
    png = client.get(f"/api/v1/visitor-passes/{p.json()['id']}/qr.png", headers=guard)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    bad = dict(body, valid_until=body["valid_from"])
    r = client.post("/api/v1/visitors", json=bad, headers=guard)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "valid_until"
    _, outsider = login("guard", [make_site().id])
    assert client.get(f"/api/v1/visitor-passes/{p.json()['id']}", headers=outsider).status_code == 403


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []
    fail_first = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
        else:
            _Receiver.received.append((self.headers[SIGNATURE_HEADER], body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *_a: object) -> None:
        pass


def test_signed_webhook_with_retry(app: FastAPI, db: Session, clock: FakeClock, make_site) -> None:
    _Receiver.received = []
    _Receiver.fail_first = 1
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        site = make_site()
        now = clock.now()
        db.add(
            AlertRule(
                site_id=site.id,
                name="s",
                type="stranger",
                params={"count": 1},
                created_at=now,
                updated_at=now,
            )
        )
        hook = Webhook(
            site_id=site.id,
            url=f"http://127.0.0.1:{server.server_port}/hook",
            secret="s3cret",
            created_at=now,
            updated_at=now,
        )
        db.add(hook)
        db.commit()
        ops_runtime(app).ingestor.on_events([stranger(site, now)])
        policy = WebhookPolicy(base_delay_s=10)
        with httpx.Client() as http:
            assert deliver_due(db, http, clock, policy) == 0  # 503 → retry later
            assert deliver_due(db, http, clock, policy) == 0  # not due yet
            clock.advance(10)
            assert deliver_due(db, http, clock, policy) == 1
        ((header, body),) = _Receiver.received
        assert verify_signature("s3cret", header, body, int(clock.now().timestamp()))
        assert not verify_signature("wrong", header, body, int(clock.now().timestamp()))
        assert json.loads(body)["type"] == "stranger"
    finally:
        server.shutdown()


def test_sse_stream_over_a_real_server(app: FastAPI, db: Session, clock: FakeClock, make_site, login) -> None:
    import socket
    import time

    import uvicorn

    site = make_site()
    now = clock.now()
    db.add(
        AlertRule(
            site_id=site.id, name="s", type="stranger", params={"count": 1}, created_at=now, updated_at=now
        )
    )
    db.commit()
    _, headers = login("police", [site.id])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with (
            httpx.Client(timeout=30) as http,
            http.stream("GET", f"http://127.0.0.1:{port}/api/v1/alerts/stream", headers=headers) as resp,
        ):
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
            lines = resp.iter_lines()
            assert next(lines) == ": connected"
            ops_runtime(app).ingestor.on_events([stranger(site, now)])
            event_line = next(line for line in lines if line.startswith("event:"))
            data_line = next(line for line in lines if line.startswith("data:"))
        assert event_line == "event: alert.created"
        assert json.loads(data_line[5:])["site_id"] == site.id
        with httpx.Client(timeout=10) as http:
            assert http.get(f"http://127.0.0.1:{port}/api/v1/alerts/stream").status_code == 401
    finally:
        server.should_exit = True
        thread.join(timeout=10)
