"""实有人口 endpoints: every read and change of a person is audited with the caller's reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from central.deps import (
    ClockDep,
    ReasonDep,
    SessionDep,
    actor_of,
    ensure_site_access,
    require_roles,
    visible_site_ids,
)
from central.errors import PermissionDenied
from central.models.registry import Person
from central.models.users import User
from central.registry_schemas import ListOut, PersonCreate, PersonKind, PersonOut, PersonUpdate
from central.security import GRID_WORKER, GUARD, POLICE, PROPERTY_MANAGER
from central.services import audit, persons
from central.services.registry import commit_or_conflict, delete_obj, get_in

router = APIRouter(prefix="/persons", tags=["persons"])

Reader = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GRID_WORKER, POLICE, GUARD))]
Writer = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GRID_WORKER, POLICE))]
Manager = Annotated[User, Depends(require_roles(PROPERTY_MANAGER))]


class PersonPage(ListOut):
    items: list[PersonOut]


@router.post("", response_model=PersonOut, status_code=201)
def create_person(
    *, body: PersonCreate, session: SessionDep, clock: ClockDep, user: Writer, reason: ReasonDep
) -> PersonOut:
    ensure_site_access(user, body.site_id)
    p = persons.build_person(session, body, user.role, clock.now())
    audit.record(
        session,
        actor=actor_of(user),
        action="create",
        object_type="person",
        object_id=p.id,
        site_id=p.site_id,
        reason=reason,
        detail={"kind": p.kind},
        now=clock.now(),
    )
    commit_or_conflict(session, "id_number", "该身份证号")
    return persons.to_public(p, user.role)


@router.get("", response_model=PersonPage)
def search(
    *,
    session: SessionDep,
    clock: ClockDep,
    user: Reader,
    reason: ReasonDep,
    site_id: Annotated[str | None, Query(max_length=36)] = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    household_id: Annotated[str | None, Query(max_length=36)] = None,
    kind: PersonKind | None = None,
    special_care: bool | None = None,
    watchlisted: bool | None = None,
    status: Annotated[str | None, Query(pattern="^(active|moved_out)$")] = "active",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PersonPage:
    if site_id is not None:
        ensure_site_access(user, site_id)
        scope: list[str] | None = [site_id]
    else:
        scope = visible_site_ids(user)
    if watchlisted is not None and user.role not in persons.WATCHLIST_ROLES:
        raise PermissionDenied("无权按重点人员筛选", "only police/admin may filter by watchlist")
    total, rows = persons.search_persons(
        session,
        scope,
        q=q,
        household_id=household_id,
        kind=kind,
        special_care=special_care,
        watchlisted=watchlisted,
        status=status,
        offset=offset,
        limit=limit,
    )
    audit.record(
        session,
        actor=actor_of(user),
        action="search",
        object_type="person",
        site_id=site_id,
        reason=reason,
        detail={"q": q, "returned": len(rows), "ids": [p.id for p in rows]},
        now=clock.now(),
    )
    session.commit()
    return PersonPage(
        total=total, offset=offset, limit=limit, items=[persons.to_public(p, user.role) for p in rows]
    )


@router.get("/{person_id}", response_model=PersonOut)
def get_person(
    *, person_id: str, session: SessionDep, clock: ClockDep, user: Reader, reason: ReasonDep
) -> PersonOut:
    p = get_in(session, Person, person_id)
    ensure_site_access(user, p.site_id)
    audit.record(
        session,
        actor=actor_of(user),
        action="view",
        object_type="person",
        object_id=p.id,
        site_id=p.site_id,
        reason=reason,
        now=clock.now(),
    )
    session.commit()
    return persons.to_public(p, user.role)


@router.patch("/{person_id}", response_model=PersonOut)
def update_person(
    *,
    person_id: str,
    body: PersonUpdate,
    session: SessionDep,
    clock: ClockDep,
    user: Writer,
    reason: ReasonDep,
) -> PersonOut:
    p = get_in(session, Person, person_id)
    ensure_site_access(user, p.site_id)
    changes = persons.update_person(session, p, body, user.role, clock.now())
    audit.record(
        session,
        actor=actor_of(user),
        action="update",
        object_type="person",
        object_id=p.id,
        site_id=p.site_id,
        reason=reason,
        detail={"fields": sorted(changes)},
        now=clock.now(),
    )
    if changes:
        _notify_whitelist(session, p, "person updated")
    commit_or_conflict(session, "id_number", "该身份证号")
    return persons.to_public(p, user.role)


@router.delete("/{person_id}", status_code=204)
def delete_person(
    *, person_id: str, session: SessionDep, clock: ClockDep, user: Manager, reason: ReasonDep
) -> Response:
    """Erase a person and everything biometric about them (templates cascade)."""
    p = get_in(session, Person, person_id)
    ensure_site_access(user, p.site_id)
    site_id = p.site_id
    audit.record(
        session,
        actor=actor_of(user),
        action="delete",
        object_type="person",
        object_id=p.id,
        site_id=site_id,
        reason=reason,
        now=clock.now(),
    )
    _notify_whitelist(session, p, "person deleted")
    delete_obj(session, p)
    return Response(status_code=204)


def _notify_whitelist(session: SessionDep, person: Person, why: str) -> None:
    from central.services.consent import notify_whitelist

    notify_whitelist(session, person.site_id, person.id, why)
