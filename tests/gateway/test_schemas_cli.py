"""`anju gateway` commands: committed JSON Schemas are current; broker-config extends a site safely."""

from __future__ import annotations

import json
from pathlib import Path

from anju.cli import main
from contracts.messages import EVENT_KINDS
from gateway.schemas import MODELS, render_schemas, stale_schemas
from gateway.signing import Signer, load_private_key, load_public_key, verify

REPO = Path(__file__).resolve().parents[2]


def test_committed_schemas_match_the_code() -> None:
    assert stale_schemas(REPO / "docs" / "schemas") == [], (
        "run: anju gateway export-schemas --out docs/schemas"
    )


def test_every_event_kind_and_message_has_a_schema() -> None:
    files = render_schemas()
    union = json.loads(files["event.json"])
    assert set(union["discriminator"]["mapping"]) == set(EVENT_KINDS)
    assert {f"event.{k}.json" for k in EVENT_KINDS} <= set(files)
    assert len(files) == len(MODELS) + 1
    envelope = json.loads(files["envelope.json"])
    assert set(envelope["required"]) == {"signer_id", "key_id", "payload", "sig"}


def test_export_and_check(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    assert main(["gateway", "export-schemas", "--out", str(out)]) == 0
    assert main(["gateway", "export-schemas", "--out", str(out), "--check"]) == 0
    (out / "event.pass.json").write_text("{}")
    assert main(["gateway", "export-schemas", "--out", str(out), "--check"]) == 1


def test_broker_config_adds_nodes_and_keeps_the_ca(tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert main(["gateway", "broker-config", "--site", "s1", "--out", str(out), "--nodes", "g1"]) == 0
    ca = (out / "ca.crt").read_bytes()
    g1 = (out / "clients" / "g1.crt").read_bytes()
    assert main(["gateway", "broker-config", "--site", "s1", "--out", str(out), "--nodes", "g1,g2"]) == 0
    assert (out / "ca.crt").read_bytes() == ca
    assert (out / "clients" / "g1.crt").read_bytes() == g1
    assert (out / "clients" / "g2.crt").exists() and (out / "keys" / "g2.sign.pub.pem").exists()
    conf = (out / "mosquitto.conf").read_text()
    assert "require_certificate true" in conf and "use_identity_as_username true" in conf
    acl = (out / "acl").read_text()
    assert "pattern write anju/v1/s1/%u/events/#" in acl
    assert "user central" in acl
    assert (out / "ca.key").stat().st_mode & 0o077 == 0
    # Reserved or malformed node ids are refused with a reason.
    assert main(["gateway", "broker-config", "--site", "s1", "--out", str(out), "--nodes", "whitelist"]) == 1
    assert main(["gateway", "broker-config", "--site", "s1", "--out", str(out), "--nodes", "bad/id"]) == 1


def test_keygen(tmp_path: Path) -> None:
    path = tmp_path / "node.sign.pem"
    assert main(["gateway", "keygen", "--out", str(path)]) == 0
    assert main(["gateway", "keygen", "--out", str(path)]) == 1  # never overwrites
    signer = Signer("n1", load_private_key(path))
    assert verify(load_public_key(tmp_path / "node.sign.pub.pem"), "n1", b"x", signer.sign(b"x"))


def test_outbox_status(tmp_path: Path, capsys: object) -> None:
    import uuid

    from anju.clock import FakeClock
    from contracts.messages import PassEvent, PersonKind
    from gateway.outbox import Outbox

    clock = FakeClock()
    box = Outbox(tmp_path / "o.db", 1 << 20, clock)
    box.put(
        PassEvent(
            event_id=uuid.uuid4(),
            site_id="s",
            node_id="n",
            seq=box.next_seq(),
            captured_at=clock.now(),
            camera_id="c",
            person_id="p",
            person_kind=PersonKind.owner,
        )
    )
    box.close()
    assert main(["gateway", "outbox-status", str(tmp_path / "o.db")]) == 0
    out = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert out["events"] == 1 and out["oldest_seq"] == 0 and out["dropped_total"] == 0
    assert main(["gateway", "outbox-status", str(tmp_path / "missing.db")]) == 1


def test_dead_letters_command(tmp_path: Path, capsys: object) -> None:
    from datetime import datetime, timezone

    import sqlalchemy as sa

    from gateway.store import DeadLetter, SqlEventStore

    url = f"sqlite:///{tmp_path / 'c.db'}"
    store = SqlEventStore(sa.create_engine(url))
    store.create_tables()
    now = datetime(2026, 5, 1, tzinfo=timezone.utc)
    store.store([], [DeadLetter("anju/v1/s/n/events/pass", b"{not json", "malformed", "not JSON", now)], now)
    assert main(["gateway", "dead-letters", "--db", url]) == 0
    (line,) = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]
    row = json.loads(line)
    assert row["reason"] == "malformed" and row["payload_head"] == "{not json"
    assert main(["gateway", "dead-letters", "--db", f"sqlite:///{tmp_path / 'empty.db'}"]) == 1
