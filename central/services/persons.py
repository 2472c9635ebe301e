"""实有人口: create, update, search, move out; ID-number consistency and role-based masking.

Rules:
* an ID number fixes birth date and sex (given values must agree); unique per site;
* ``minor`` is derived from the birth date on the injected clock's day (< 18);
* only ``admin``/``police`` may set or see ``watchlist_category`` and see full ID numbers;
  guards also get masked phones and no notes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from central.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from central.idcard import age_on, mask_id_number, mask_phone, parse_id_number
from central.models.registry import Household, Organisation, Person
from central.registry_schemas import PersonCreate, PersonOut, PersonUpdate
from central.security import ADMIN, FULL_ID_ROLES, GUARD, POLICE
from central.services.registry import apply_update, check_ref, commit_or_conflict

WATCHLIST_ROLES = frozenset({ADMIN, POLICE})


def _derive(person: Person, today: date) -> None:
    """Fill birth date/sex from the ID number and recompute ``minor``."""
    errors: list[FieldError] = []
    if person.id_number:
        info = parse_id_number(person.id_number)
        if info.birth_date > today:
            errors.append(FieldError("id_number", "出生日期在未来 / birth date in the future"))
        if person.birth_date is not None and person.birth_date != info.birth_date:
            errors.append(FieldError("birth_date", "与身份证号不一致 / does not match the ID number"))
        if person.gender and person.gender != info.sex:
            errors.append(FieldError("gender", "与身份证号不一致 / does not match the ID number"))
        person.birth_date = info.birth_date
        person.gender = info.sex
    if person.birth_date is not None and person.birth_date > today:
        errors.append(FieldError("birth_date", "出生日期在未来 / birth date in the future"))
    if errors:
        raise ValidationFailed("人员信息有误", "invalid person", errors)
    person.minor = person.birth_date is not None and age_on(person.birth_date, today) < 18


def _check_refs(
    session: Session, site_id: str, household_id: str | None, organisation_id: str | None
) -> None:
    check_ref(session, Household, household_id, site_id, "household_id")
    check_ref(session, Organisation, organisation_id, site_id, "organisation_id")


def _unique_id(session: Session, site_id: str, id_number: str | None, exclude: str | None = None) -> None:
    if not id_number:
        return
    q = select(Person.id).where(Person.site_id == site_id, Person.id_number == id_number)
    if exclude:
        q = q.where(Person.id != exclude)
    if session.scalar(q) is not None:
        raise Conflict(
            "该身份证号已登记",
            "ID number already registered in this site",
            [FieldError("id_number", "duplicate")],
        )


def build_person(
    session: Session, data: PersonCreate, role: str, now: datetime, *, checked_refs: bool = False
) -> Person:
    """Validate and add a person (flushed unless ``checked_refs``); used by create and by imports.

    ``checked_refs=True`` is for callers (imports) that already verified the household/organisation
    belong to the site and the ID number is unique; the row is then only added, not flushed.
    """
    if data.watchlist_category is not None and role not in WATCHLIST_ROLES:
        raise PermissionDenied("仅民警可设置重点人员类别", "only police/admin may set a watchlist category")
    if not checked_refs:
        _check_refs(session, data.site_id, data.household_id, data.organisation_id)
        _unique_id(session, data.site_id, data.id_number)
    person = Person(**data.model_dump(), created_at=now, updated_at=now)
    _derive(person, now.date())
    session.add(person)
    if not checked_refs:
        session.flush()
    return person


def create_person(session: Session, data: PersonCreate, role: str, now: datetime) -> Person:
    person = build_person(session, data, role, now)
    commit_or_conflict(session, "id_number", "该身份证号")
    return person


def update_person(
    session: Session, person: Person, data: PersonUpdate, role: str, now: datetime
) -> dict[str, Any]:
    """Apply a partial update (not committed); returns the changed fields."""
    fields = data.model_fields_set
    if "watchlist_category" in fields and role not in WATCHLIST_ROLES:
        raise PermissionDenied("仅民警可设置重点人员类别", "only police/admin may set a watchlist category")
    if "id_number" in fields and data.id_number is not None and data.id_number != person.id_number:
        _unique_id(session, person.site_id, data.id_number, exclude=person.id)
        # a new ID number re-derives birth date and sex unless given with it
        if "birth_date" not in fields:
            person.birth_date = None
        if "gender" not in fields:
            person.gender = ""
    _check_refs(
        session,
        person.site_id,
        data.household_id if "household_id" in fields else None,
        data.organisation_id if "organisation_id" in fields else None,
    )
    changes = apply_update(person, data, now)
    if data.status == "moved_out" and "status" in changes:
        person.moved_out_at = now
    _derive(person, now.date())
    return changes


def search_persons(
    session: Session,
    site_ids: list[str] | None,
    *,
    q: str | None = None,
    household_id: str | None = None,
    kind: str | None = None,
    special_care: bool | None = None,
    watchlisted: bool | None = None,
    status: str | None = "active",
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Person]]:
    """Filtered page of persons; ``site_ids`` None means every site (admin)."""
    stmt = select(Person)
    if site_ids is not None:
        stmt = stmt.where(Person.site_id.in_(site_ids))
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(Person.name.like(like), Person.id_number == q.upper(), Person.phone == q))
    if household_id:
        stmt = stmt.where(Person.household_id == household_id)
    if kind:
        stmt = stmt.where(Person.kind == kind)
    if special_care is not None:
        flag = or_(Person.elderly_alone, Person.dementia, Person.minor)
        stmt = stmt.where(flag if special_care else ~flag)
    if watchlisted is not None:
        wl = Person.watchlist_category.is_not(None)
        stmt = stmt.where(wl if watchlisted else ~wl)
    if status:
        stmt = stmt.where(Person.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Person.name, Person.id).offset(offset).limit(limit))
    return total, list(rows)


def to_public(person: Person, role: str) -> PersonOut:
    """The response for ``role``: masked ID numbers (and for guards phones/notes), hidden watchlist."""
    full = role in FULL_ID_ROLES
    return PersonOut(
        id=person.id,
        site_id=person.site_id,
        name=person.name,
        id_number=person.id_number if full else mask_id_number(person.id_number),
        id_number_masked=not full and bool(person.id_number),
        gender=person.gender,
        birth_date=person.birth_date if role != GUARD else None,
        phone=mask_phone(person.phone) if role == GUARD else person.phone,
        kind=person.kind,
        status=person.status,
        household_id=person.household_id,
        organisation_id=person.organisation_id,
        elderly_alone=person.elderly_alone,
        minor=person.minor,
        dementia=person.dementia,
        watchlist_category=person.watchlist_category if role in WATCHLIST_ROLES else None,
        notes="" if role == GUARD else person.notes,
        has_face=person.has_face,
        created_at=person.created_at,
        updated_at=person.updated_at,
    )
