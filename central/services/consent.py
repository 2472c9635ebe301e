"""Consent to face recognition, its withdrawal, and the non-face credentials given instead.

* :func:`grant` — records consent; a child under 14 (by birth date on the clock's day) needs the
  guardian's consent (``granted_by="guardian"`` with name and relation).
* :func:`active_consent` — the consent templates may be created under (None: no templates allowed).
* :func:`withdraw` — marks consent withdrawn, deletes every template of the person, queues the
  whitelist change (edges drop the person on the next delta) and issues a QR pass + PIN.
* :func:`notify_whitelist` — ``central.services.whitelist.mark_person_changed`` in the caller's
  transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from central.errors import Conflict, FieldError, ValidationFailed
from central.idcard import age_on, mask_name
from central.models.biometrics import Consent, FaceTemplate, PersonCredential
from central.models.registry import Person
from central.schemas import ApiModel
from central.security import hash_password
from central.validation import IdNumber, PersonName, ShortText

GUARDIAN_AGE = 14
PASS_VALIDITY = timedelta(days=365)


class ConsentCreate(ApiModel):
    granted_by: str = "self"  # self | guardian
    guardian_name: PersonName | None = None
    guardian_relation: ShortText = ""
    guardian_id_number: IdNumber = None
    method: str = "paper"
    document_ref: ShortText = ""


def notify_whitelist(session: Session, site_id: str, person_id: str, reason: str) -> None:
    """Queue the person for whitelist recompilation (part of the caller's transaction)."""
    from central.services.whitelist import mark_person_changed

    mark_person_changed(session, site_id, person_id, reason)


def active_consent(session: Session, person_id: str) -> Consent | None:
    return session.scalar(
        select(Consent)
        .where(Consent.person_id == person_id, Consent.withdrawn_at.is_(None))
        .order_by(Consent.granted_at.desc())
        .limit(1)
    )


def needs_guardian(person: Person, now: datetime) -> bool:
    return person.birth_date is not None and age_on(person.birth_date, now.date()) < GUARDIAN_AGE


def grant(
    session: Session, person: Person, data: ConsentCreate, user_id: str | None, now: datetime
) -> Consent:
    """Record consent (flushed, not committed)."""
    errors: list[FieldError] = []
    if data.granted_by not in ("self", "guardian"):
        errors.append(FieldError("granted_by", "self 或 guardian / self or guardian"))
    if data.method not in ("paper", "electronic"):
        errors.append(FieldError("method", "paper 或 electronic"))
    if needs_guardian(person, now) and data.granted_by != "guardian":
        errors.append(
            FieldError("granted_by", "未满14周岁须由监护人同意 / under 14: the guardian must consent")
        )
    if data.granted_by == "guardian":
        if not data.guardian_name:
            errors.append(FieldError("guardian_name", "必填 / required for guardian consent"))
        if not data.guardian_relation:
            errors.append(FieldError("guardian_relation", "必填 / required for guardian consent"))
    if errors:
        raise ValidationFailed("同意书信息有误", "invalid consent", errors)
    if active_consent(session, person.id) is not None:
        raise Conflict("该人员已有有效的同意记录", "consent already recorded")
    consent = Consent(
        site_id=person.site_id,
        person_id=person.id,
        granted_by=data.granted_by,
        guardian_name=data.guardian_name or "",
        guardian_relation=data.guardian_relation,
        guardian_id_number=data.guardian_id_number,
        method=data.method,
        document_ref=data.document_ref,
        granted_at=now,
        recorded_by=user_id,
    )
    session.add(consent)
    session.flush()
    return consent


@dataclass(frozen=True)
class IssuedCredentials:
    """Shown once: the PIN in clear and the signed QR pass token."""

    pin: str
    qr_token: str
    pass_id: str
    valid_until: datetime


def issue_credentials(session: Session, person: Person, signer: object, now: datetime) -> IssuedCredentials:
    """Revoke previous non-face credentials and issue a fresh PIN and a signed resident QR pass."""
    from contracts.passes import PassKind, PassPayload, encode_pass

    session.execute(
        update(PersonCredential)
        .where(PersonCredential.person_id == person.id, PersonCredential.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    pin = f"{secrets.randbelow(10**6):06d}"
    pass_id = f"res-{secrets.token_hex(8)}"
    until = now + PASS_VALIDITY
    payload = PassPayload(
        pass_id=pass_id,
        site_id=person.site_id,
        kind=PassKind.resident,
        holder=mask_name(person.name)[:32],
        person_id=person.id,
        host_household_id=person.household_id,
        valid_from=now,
        valid_until=until,
    )
    token = encode_pass(payload, signer.sign)  # type: ignore[attr-defined]
    session.add_all(
        [
            PersonCredential(
                site_id=person.site_id,
                person_id=person.id,
                kind="pin",
                secret_hash=hash_password(pin),
                valid_until=until,
                issued_at=now,
            ),
            PersonCredential(
                site_id=person.site_id,
                person_id=person.id,
                kind="qr",
                pass_id=pass_id,
                valid_until=until,
                issued_at=now,
            ),
        ]
    )
    session.flush()
    return IssuedCredentials(pin=pin, qr_token=token, pass_id=pass_id, valid_until=until)


def withdraw(
    session: Session, person: Person, reason: str, signer: object, now: datetime
) -> tuple[int, IssuedCredentials]:
    """Withdraw consent: delete templates, queue the whitelist change, issue QR + PIN (not committed).

    Returns (templates deleted, credentials).
    """
    consent = active_consent(session, person.id)
    if consent is None:
        raise Conflict("该人员没有有效的同意记录", "no active consent to withdraw")
    consent.withdrawn_at = now
    consent.withdrawn_reason = reason[:500]
    deleted = session.execute(delete(FaceTemplate).where(FaceTemplate.person_id == person.id))
    n = int(getattr(deleted, "rowcount", 0) or 0)
    person.has_face = False
    person.updated_at = now
    notify_whitelist(session, person.site_id, person.id, "consent withdrawn")
    creds = issue_credentials(session, person, signer, now)
    session.flush()
    return n, creds
