"""Visitor passes: signature, tampering, QR readable by a camera decoder, visit records, expiry."""

from __future__ import annotations

from datetime import timedelta

import cv2
import numpy as np
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.db import make_session_factory
from central.errors import Conflict, NotFound, ValidationFailed
from central.ingest import Ingestor
from central.models.visitors import Visit
from central.services.visitors import issue_resident_pass, issue_visitor_pass, pass_png, revoke_pass
from contracts import PersonKind
from contracts.messages import Credential
from contracts.passes import PassFormatError, PassKind, decode_pass, split_pass
from gateway.signing import Signer, verify
from tests.central.ops_helpers import central_signer, household, pass_event, person, visitor_pass


@pytest.fixture
def signer() -> Signer:
    return central_signer()


def _verifier(signer: Signer):  # type: ignore[no-untyped-def]
    return lambda body, sig: verify(signer.public_key, signer.signer_id, body, sig)


def test_pass_signed_masked_and_tamper_evident(
    db: Session, clock: FakeClock, make_site, signer: Signer
) -> None:
    site = make_site()
    now = clock.now()
    hh = household(db, site, now)
    _, vpass = visitor_pass(
        db, signer.sign, hh, now, timedelta(days=1), name="司马访客", rings=[1, 2], zone_codes=["gate-n"]
    )
    payload = decode_pass(vpass.token, _verifier(signer))
    assert payload.pass_id == vpass.id and payload.kind is PassKind.visitor and payload.holder == "司***"
    assert payload.allows(ring=1, zone_id="gate-n") and not payload.allows(ring=3, zone_id=None)
    assert not payload.allows(ring=1, zone_id="gate-s")
    body, _sig = split_pass(vpass.token)
    assert "司马" not in body.decode()
    other = central_signer()
    with pytest.raises(PassFormatError):
        decode_pass(vpass.token, _verifier(other))  # another key
    prefix, b64, s64 = vpass.token.split(".")
    forged = f"{prefix}.{b64[:-2]}{'A' if b64[-2] != 'A' else 'B'}{b64[-1]}.{s64}"
    with pytest.raises(PassFormatError):
        decode_pass(forged, _verifier(signer))  # altered payload
    with pytest.raises(PassFormatError):
        decode_pass("hello", _verifier(signer))
    # the PNG decodes back to the exact token with OpenCV's QR reader (what a gate camera runs)
    png = pass_png(vpass.token)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    text, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)  # as the gate cameras read it
    assert text == vpass.token


def test_pass_input_errors(db: Session, clock: FakeClock, make_site, signer: Signer) -> None:
    site, other = make_site(), make_site()
    now = clock.now()
    hh = household(db, site, now)
    foreign = household(db, other, now, number="9")
    kw = {"valid_from": now, "valid_until": now + timedelta(hours=1), "now": now}
    with pytest.raises(NotFound):
        issue_visitor_pass(db, signer.sign, site_id=site.id, host_household_id=foreign.id, name="x", **kw)
    with pytest.raises(ValidationFailed):
        issue_visitor_pass(db, signer.sign, site_id=site.id, host_household_id=hh.id, name="  ", **kw)
    with pytest.raises(ValidationFailed):
        issue_visitor_pass(
            db, signer.sign, site_id=site.id, host_household_id=hh.id, name="x", rings=[5], **kw
        )
    with pytest.raises(ValidationFailed):
        issue_visitor_pass(
            db,
            signer.sign,
            site_id=site.id,
            host_household_id=hh.id,
            name="x",
            valid_from=now,
            valid_until=now + timedelta(days=400),
            now=now,
        )
    resident = person(db, site, now, "不刷脸", household_id=hh.id)
    rp = issue_resident_pass(
        db, signer.sign, person_id=resident.id, valid_from=now, valid_until=now + timedelta(days=365), now=now
    )
    payload = decode_pass(rp.token, _verifier(signer))
    assert payload.kind is PassKind.resident and payload.person_id == resident.id
    revoke_pass(db, rp, "lost phone", now)
    with pytest.raises(Conflict):
        revoke_pass(db, rp, "again", now)


def test_visit_records_from_pass_events(
    engine: Engine, db: Session, clock: FakeClock, make_site, signer: Signer
) -> None:
    site = make_site()
    now = clock.now()
    hh = household(db, site, now)
    visitor, vpass = visitor_pass(db, signer.sign, hh, now, timedelta(hours=6), name="访客")
    ing = Ingestor(make_session_factory(engine), clock)
    qr = {"credential": Credential.qr, "pass_id": vpass.id, "person_kind": PersonKind.visitor}

    def scan(after: timedelta, ring: int, direction: str) -> None:  # the pass QR read at a gate
        ing.on_events(
            [pass_event(site, now + after, f"pass:{vpass.id}", ring=ring, direction=direction, **qr)]
        )

    scan(timedelta(minutes=1), 1, "in")
    scan(timedelta(minutes=3), 3, "in")
    scan(timedelta(hours=2), 1, "out")
    db.expire_all()
    (visit,) = db.scalars(select(Visit)).all()
    assert visit.visitor_id == visitor.id and visit.host_household_id == hh.id
    assert visit.entered_at == now + timedelta(minutes=1) and visit.left_at == now + timedelta(hours=2)
    scan(timedelta(hours=3), 1, "in")
    db.expire_all()
    assert len(db.scalars(select(Visit)).all()) == 2  # a second visit on the same pass


def test_ops_worker_expires_passes_without_a_link(
    engine: Engine, db: Session, clock: FakeClock, make_site, signer: Signer
) -> None:
    from central.ingest import OpsWorker

    site = make_site()
    now = clock.now()
    hh = household(db, site, now)
    _, vpass = visitor_pass(db, signer.sign, hh, now, timedelta(hours=1), name="访客")
    worker = OpsWorker(make_session_factory(engine), clock)
    try:
        worker.tick()
        db.refresh(vpass)
        assert vpass.status == "active"
        clock.advance(timedelta(hours=1))
        worker.tick()
        db.refresh(vpass)
        assert vpass.status == "expired"
    finally:
        worker.stop()
