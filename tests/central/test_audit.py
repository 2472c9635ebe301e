"""The audit hash chain: append, verify, detect tampering, retention purge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.errors import ValidationFailed
from central.models.audit import AuditRecord
from central.services import audit


def _fill(db: Session, clock: FakeClock, n: int) -> None:
    for i in range(n):
        audit.record(
            db,
            actor=audit.Actor("u1", "clerk", "property_manager"),
            action="view",
            object_type="person",
            object_id=f"p{i}",
            site_id="s1",
            reason="核查 <script>alert(1)</script> 😀",
            detail={"i": i},
            now=clock.now(),
        )
        clock.advance(3600)
    db.commit()


def _drop_guard(db: Session) -> None:
    """What an attacker with DDL rights would do first."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
    else:
        db.execute(text("DROP TRIGGER audit_log_append_only"))
    db.commit()


def _restore_guard(db: Session) -> None:
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
        db.commit()


def test_append_only_at_database_level(db: Session, clock: FakeClock) -> None:
    _fill(db, clock, 2)
    with pytest.raises(DBAPIError):
        db.execute(update(AuditRecord).where(AuditRecord.seq == 1).values(reason="x"))
        db.commit()
    db.rollback()
    if db.get_bind().dialect.name == "postgresql":
        with pytest.raises(DBAPIError):
            db.execute(delete(AuditRecord).where(AuditRecord.seq == 1))
            db.commit()
        db.rollback()
    assert audit.verify(db).ok


def test_chain_verifies_and_detects_tampering(db: Session, clock: FakeClock) -> None:
    _fill(db, clock, 12)
    r = audit.verify(db, batch=5)
    assert r.ok and r.checked == 12 and r.first_seq == 1 and r.last_seq == 12
    _drop_guard(db)
    db.execute(update(AuditRecord).where(AuditRecord.seq == 7).values(reason="nothing to see"))
    db.commit()
    r = audit.verify(db)
    assert not r.ok and r.broken_at == 7 and "hash" in r.problem
    _restore_guard(db)


def test_deleted_record_is_detected(db: Session, clock: FakeClock) -> None:
    _fill(db, clock, 5)
    _drop_guard(db)
    db.delete(db.get(AuditRecord, 3))
    db.commit()
    r = audit.verify(db)
    assert not r.ok and r.broken_at == 4
    _restore_guard(db)


def test_purge_keeps_six_months_and_anchors(db: Session, clock: FakeClock) -> None:
    _fill(db, clock, 3)
    clock.advance(timedelta(days=200))
    _fill(db, clock, 2)
    with pytest.raises(ValidationFailed):
        audit.purge_expired(db, retention_days=30, now=clock.now())
    assert audit.purge_expired(db, retention_days=190, now=clock.now()) == 3
    r = audit.verify(db)
    assert r.ok and r.first_seq == 4 and r.checked == 3  # 2 kept + the purge record


def test_verify_endpoint_admin_only(
    client: TestClient, login, make_site, db: Session, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    site = make_site()
    _fill(db, clock, 3)
    _, admin_h = login("admin")
    _, police_h = login("police", [site.id])
    r = client.get("/api/v1/audit/verify", headers=admin_h)
    assert r.status_code == 200 and r.json()["ok"] is True
    assert client.get("/api/v1/audit/verify", headers=police_h).status_code == 403
    # police see only their sites' records (these are for site "s1")
    assert client.get("/api/v1/audit", headers=police_h).json() == []
    assert len(client.get("/api/v1/audit", headers=admin_h).json()) >= 3


def test_concurrent_appends_keep_one_chain(engine: Any, clock: FakeClock) -> None:
    import threading

    from central.db import make_session_factory

    factory = make_session_factory(engine)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                with factory() as s:
                    audit.record(
                        s,
                        actor=audit.SYSTEM,
                        action="view",
                        object_type="person",
                        object_id=f"{n}-{i}",
                        now=clock.now(),
                    )
                    s.commit()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with factory() as s:
        r = audit.verify(s)
    assert r.ok and r.checked == 90


def test_anchor_detects_a_cut_back_chain(db: Session, clock: FakeClock) -> None:
    _fill(db, clock, 6)
    r = audit.verify(db)
    anchor = (r.last_seq, r.last_hash)
    assert r.ok and anchor[1] and audit.check_anchor(db, *anchor)  # type: ignore[arg-type]
    _drop_guard(db)
    db.execute(
        delete(AuditRecord).where(AuditRecord.seq >= 5)
    )  # the tail removed: the chain itself still links
    db.commit()
    assert audit.verify(db).ok
    assert not audit.check_anchor(db, *anchor)  # type: ignore[arg-type]
    _restore_guard(db)
