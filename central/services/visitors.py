"""Visitors: registration against a host household, signed QR passes, visit records.

A pass token (``contracts.passes``) is signed with the site's Ed25519 key as
signer ``central`` (``gateway.signing.Signer``); edges verify it offline with
``gateway.signing.verify(public_key, "central", payload, signature)`` and check
that ``pass:<pass_id>`` is still on their whitelist (revocation). Passes expire
on their own (``WhitelistCompiler.expire``); residents who opted out of face
recognition get a ``resident`` pass bound to their person id.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.errors import Conflict, FieldError, NotFound, ValidationFailed
from central.models.registry import Household, Person
from central.models.visitors import Visit, Visitor, VisitorPass
from central.services.alert_rules import mask_name
from central.services.events import RecordData
from central.services.whitelist import PASS_PREFIX, mark_person_changed
from contracts.passes import PassKind, PassPayload, encode_pass

MAX_PASS_DAYS = 366


def _check_window(valid_from: datetime, valid_until: datetime, kind: PassKind) -> None:
    problems = []
    if valid_from.tzinfo is None or valid_until.tzinfo is None:
        problems.append(FieldError("valid_from", "时间必须带时区 / timezone required"))
    elif valid_until <= valid_from:
        problems.append(FieldError("valid_until", "结束时间必须晚于开始时间 / must be after valid_from"))
    elif kind is PassKind.visitor and valid_until - valid_from > timedelta(days=MAX_PASS_DAYS):
        problems.append(
            FieldError("valid_until", f"访客通行证最长 {MAX_PASS_DAYS} 天 / at most {MAX_PASS_DAYS} days")
        )
    if problems:
        raise ValidationFailed("有效期无效", "invalid validity window", problems)


def _check_rings(rings: list[int]) -> list[int]:
    if not rings or any(r < 1 or r > 4 for r in rings):
        raise ValidationFailed("通行圈层无效", "invalid rings", [FieldError("rings", "1-4, at least one")])
    return sorted(set(rings))


def issue_visitor_pass(
    session: Session,
    sign: Callable[[bytes], bytes],
    *,
    site_id: str,
    host_household_id: str,
    name: str,
    valid_from: datetime,
    valid_until: datetime,
    now: datetime,
    phone: str = "",
    plate: str | None = None,
    purpose: str = "",
    rings: list[int] | None = None,
    zone_codes: list[str] | None = None,
    created_by: str | None = None,
) -> tuple[Visitor, VisitorPass]:
    """Register a visitor and issue a signed pass; the pass goes on the whitelist. Commits."""
    household = session.get(Household, host_household_id)
    if household is None or household.site_id != site_id:
        raise NotFound(
            "被访住户不存在", "host household not found", [FieldError("host_household_id", "unknown")]
        )
    if not name.strip():
        raise ValidationFailed("请填写访客姓名", "visitor name required", [FieldError("name", "required")])
    _check_window(valid_from, valid_until, PassKind.visitor)
    ring_list = _check_rings(rings or [1, 2, 3])
    visitor = Visitor(
        site_id=site_id,
        host_household_id=household.id,
        name=name.strip(),
        phone=phone,
        plate=plate,
        purpose=purpose,
        created_at=now,
        updated_at=now,
    )
    session.add(visitor)
    session.flush()
    vpass = _make_pass(
        session,
        sign,
        kind=PassKind.visitor,
        site_id=site_id,
        holder=name,
        host_household_id=household.id,
        visitor_id=visitor.id,
        person_id=None,
        valid_from=valid_from,
        valid_until=valid_until,
        rings=ring_list,
        zone_codes=zone_codes or [],
        now=now,
        created_by=created_by,
    )
    session.commit()
    return visitor, vpass


def issue_resident_pass(
    session: Session,
    sign: Callable[[bytes], bytes],
    *,
    person_id: str,
    valid_from: datetime,
    valid_until: datetime,
    now: datetime,
    rings: list[int] | None = None,
    created_by: str | None = None,
) -> VisitorPass:
    """A QR credential for a resident without face data (opted out or consent withdrawn). Commits."""
    person = session.get(Person, person_id)
    if person is None or person.status != "active":
        raise NotFound("住户不存在", "person not found")
    _check_window(valid_from, valid_until, PassKind.resident)
    vpass = _make_pass(
        session,
        sign,
        kind=PassKind.resident,
        site_id=person.site_id,
        holder=person.name,
        host_household_id=person.household_id,
        visitor_id=None,
        person_id=person.id,
        valid_from=valid_from,
        valid_until=valid_until,
        rings=_check_rings(rings or [1, 2, 3]),
        zone_codes=[],
        now=now,
        created_by=created_by,
    )
    session.commit()
    return vpass


def _make_pass(
    session: Session,
    sign: Callable[[bytes], bytes],
    *,
    kind: PassKind,
    site_id: str,
    holder: str,
    host_household_id: str | None,
    visitor_id: str | None,
    person_id: str | None,
    valid_from: datetime,
    valid_until: datetime,
    rings: list[int],
    zone_codes: list[str],
    now: datetime,
    created_by: str | None,
) -> VisitorPass:
    pass_id = str(uuid.uuid4())
    payload = PassPayload(
        pass_id=pass_id,
        site_id=site_id,
        kind=kind,
        holder=mask_name(holder),
        person_id=person_id,
        host_household_id=host_household_id,
        valid_from=valid_from,
        valid_until=valid_until,
        rings=rings,
        zone_ids=zone_codes,
    )
    vpass = VisitorPass(
        id=pass_id,
        site_id=site_id,
        kind=kind.value,
        visitor_id=visitor_id,
        person_id=person_id,
        host_household_id=host_household_id,
        valid_from=valid_from,
        valid_until=valid_until,
        rings=rings,
        zone_codes=zone_codes,
        status="active",
        token=encode_pass(payload, sign),
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(vpass)
    mark_person_changed(session, site_id, PASS_PREFIX + pass_id, "pass_issued")
    return vpass


def get_pass(session: Session, pass_id: str) -> VisitorPass:
    vpass = session.get(VisitorPass, pass_id)
    if vpass is None:
        raise NotFound("通行证不存在", f"pass {pass_id} not found")
    return vpass


def revoke_pass(session: Session, vpass: VisitorPass, reason: str, now: datetime) -> VisitorPass:
    """Revoke before expiry: the pass leaves every edge's whitelist in the next delta. Commits."""
    if vpass.status != "active":
        raise Conflict("通行证已失效", f"pass is already {vpass.status}")
    vpass.status = "revoked"
    vpass.revoked_reason = reason[:256]
    vpass.updated_at = now
    mark_person_changed(session, vpass.site_id, PASS_PREFIX + vpass.id, "pass_revoked")
    session.commit()
    return vpass


def pass_png(token: str, box_size: int = 6) -> bytes:
    """The QR code of a pass token as PNG bytes."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    qr.add_data(token)
    qr.make(fit=True)
    image = qr.make_image(fill_color="black", back_color="white")
    buf = io.BytesIO()
    image.save(buf)
    return buf.getvalue()


def record_visits(session: Session, records: list[RecordData]) -> None:
    """Open a visit on the first inbound use of a visitor pass, close it on the way out."""
    for rec in records:
        if rec.kind != "pass":
            continue
        pass_id = rec.detail.get("pass_id")
        if not isinstance(pass_id, str) or not pass_id:
            continue
        vpass = session.get(VisitorPass, pass_id)
        if vpass is None or vpass.kind != "visitor" or vpass.site_id != rec.site_id:
            continue
        open_visit = session.scalars(
            select(Visit)
            .where(Visit.pass_id == pass_id, Visit.left_at.is_(None))
            .order_by(Visit.entered_at.desc())
        ).first()
        if rec.direction == "out":
            if open_visit is not None and rec.captured_at >= open_visit.entered_at:
                open_visit.left_at = rec.captured_at
                open_visit.exit_camera_id = rec.camera_id
        elif open_visit is None:
            session.add(
                Visit(
                    site_id=rec.site_id,
                    pass_id=pass_id,
                    visitor_id=vpass.visitor_id,
                    host_household_id=vpass.host_household_id,
                    entered_at=rec.captured_at,
                    entry_camera_id=rec.camera_id,
                )
            )
            session.flush()


def list_visits(
    session: Session, site_ids: list[str], since: datetime, until: datetime, limit: int = 200
) -> list[Visit]:
    return list(
        session.scalars(
            select(Visit)
            .where(Visit.site_id.in_(site_ids), Visit.entered_at >= since, Visit.entered_at < until)
            .order_by(Visit.entered_at.desc())
            .limit(max(1, min(1000, limit)))
        )
    )


def expire_passes(session: Session, now: datetime) -> int:
    """Mark passes past their validity as expired (their whitelist entries go with the next expiry delta).
    Commits; returns how many expired."""
    expired = list(
        session.scalars(
            select(VisitorPass).where(VisitorPass.status == "active", VisitorPass.valid_until <= now)
        )
    )
    for vpass in expired:
        vpass.status = "expired"
        vpass.updated_at = now
    session.commit()
    return len(expired)
