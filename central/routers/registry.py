"""Registry of places: sites, buildings, houses (with rental QR), households, organisations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from central.deps import (
    ClockDep,
    CurrentUser,
    ReasonDep,
    SessionDep,
    actor_of,
    ensure_site_access,
    require_roles,
    visible_site_ids,
)
from central.keys import app_signer
from central.models.registry import Building, House, Household, Organisation, Site
from central.models.users import User
from central.registry_schemas import (
    BuildingCreate,
    BuildingOut,
    BuildingUpdate,
    HouseCreate,
    HouseholdCreate,
    HouseholdOut,
    HouseholdUpdate,
    HouseOut,
    HouseUpdate,
    HouseUsage,
    ListOut,
    OrganisationCreate,
    OrganisationOut,
    OrganisationUpdate,
    SiteCreate,
    SiteOut,
    SiteUpdate,
)
from central.schemas import ApiModel
from central.security import ADMIN, GRID_WORKER, POLICE, PROPERTY_MANAGER
from central.services import audit, house_qr
from central.services import registry as svc

router = APIRouter(tags=["registry"])

Admin = Annotated[User, Depends(require_roles(ADMIN))]
Manager = Annotated[User, Depends(require_roles(PROPERTY_MANAGER))]
PlaceWriter = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GRID_WORKER))]
QrReader = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GRID_WORKER, POLICE))]
SiteQ = Annotated[str, Query(max_length=36)]
# The registry's places: each route loads one, checks its site, and audits what it changes.
Place = TypeVar("Place", Site, Building, House, Household, Organisation)


def _audit(
    session: Session, user: User, action: str, obj: object, reason: str, now: datetime, **detail: object
) -> None:
    audit.record(
        session,
        actor=actor_of(user),
        action=action,
        object_type=type(obj).__name__.lower(),
        object_id=str(getattr(obj, "id", "")),
        site_id=getattr(obj, "site_id", None) or (obj.id if isinstance(obj, Site) else None),
        reason=reason,
        detail=dict(detail),
        now=now,
    )
    session.commit()


def _site_of(obj: Place) -> str:
    return obj.id if isinstance(obj, Site) else obj.site_id


def _load(session: Session, model: type[Place], obj_id: str, user: User) -> Place:
    """The object, once the user may see its site (404 for a missing id before 403 for another site)."""
    obj = svc.get_in(session, model, obj_id)
    ensure_site_access(user, _site_of(obj))
    return obj


def _update(
    session: Session, user: User, obj: Place, body: BaseModel, now: datetime, reason: str = ""
) -> Place:
    """Apply the fields given in ``body`` and audit which ones changed (commits)."""
    changes = svc.apply_update(obj, body, now)
    _audit(session, user, "update", obj, reason, now, fields=sorted(changes))
    return obj


def _delete(session: Session, model: type[Place], obj_id: str, user: User, now: datetime) -> Response:
    """Audit and delete (one commit: a refused delete keeps no audit row); 409 while still referenced."""
    obj = _load(session, model, obj_id, user)
    audit.record(
        session,
        actor=actor_of(user),
        action="delete",
        object_type=model.__name__.lower(),
        object_id=obj.id,
        site_id=_site_of(obj),
        now=now,
    )
    svc.delete_obj(session, obj)
    return Response(status_code=204)


# --- sites ---------------------------------------------------------------------------------


@router.post("/sites", response_model=SiteOut, status_code=201)
def create_site(*, body: SiteCreate, session: SessionDep, clock: ClockDep, user: Admin) -> Site:
    site = svc.create_site(session, body, clock.now())
    _audit(session, user, "create", site, "", clock.now(), code=site.code)
    return site


@router.get("/sites", response_model=list[SiteOut])
def list_sites(*, session: SessionDep, user: CurrentUser) -> list[Site]:
    return svc.list_sites(session, visible_site_ids(user))


@router.get("/sites/{site_id}", response_model=SiteOut)
def get_site(*, site_id: str, session: SessionDep, user: CurrentUser) -> Site:
    return _load(session, Site, site_id, user)


@router.patch("/sites/{site_id}", response_model=SiteOut)
def update_site(
    *, site_id: str, body: SiteUpdate, session: SessionDep, clock: ClockDep, user: Manager
) -> Site:
    return _update(session, user, _load(session, Site, site_id, user), body, clock.now())


# --- buildings -----------------------------------------------------------------------------


@router.post("/buildings", response_model=BuildingOut, status_code=201)
def create_building(
    *, body: BuildingCreate, session: SessionDep, clock: ClockDep, user: PlaceWriter
) -> Building:
    ensure_site_access(user, body.site_id)
    b = svc.create_building(session, body, clock.now())
    _audit(session, user, "create", b, "", clock.now(), number=b.number)
    return b


@router.get("/buildings", response_model=list[BuildingOut])
def list_buildings(*, site_id: SiteQ, session: SessionDep, user: CurrentUser) -> list[Building]:
    ensure_site_access(user, site_id)
    return svc.list_buildings(session, site_id)


@router.get("/buildings/{building_id}", response_model=BuildingOut)
def get_building(*, building_id: str, session: SessionDep, user: CurrentUser) -> Building:
    return _load(session, Building, building_id, user)


@router.patch("/buildings/{building_id}", response_model=BuildingOut)
def update_building(
    *, building_id: str, body: BuildingUpdate, session: SessionDep, clock: ClockDep, user: PlaceWriter
) -> Building:
    return _update(session, user, _load(session, Building, building_id, user), body, clock.now())


@router.delete("/buildings/{building_id}", status_code=204)
def delete_building(*, building_id: str, session: SessionDep, clock: ClockDep, user: Manager) -> Response:
    return _delete(session, Building, building_id, user, clock.now())


# --- houses --------------------------------------------------------------------------------


class HousePage(ListOut):
    items: list[HouseOut]


def _house_out(session: SessionDep, h: House) -> HouseOut:
    out = HouseOut.model_validate(h)
    out.address = svc.standard_address(session, h)
    return out


@router.post("/houses", response_model=HouseOut, status_code=201)
def create_house(*, body: HouseCreate, session: SessionDep, clock: ClockDep, user: PlaceWriter) -> HouseOut:
    _load(session, Building, body.building_id, user)
    h = svc.create_house(session, body, clock.now())
    _audit(session, user, "create", h, "", clock.now(), room=h.room)
    return _house_out(session, h)


@router.get("/houses", response_model=HousePage)
def list_houses(
    *,
    site_id: SiteQ,
    session: SessionDep,
    user: CurrentUser,
    building_id: Annotated[str | None, Query(max_length=36)] = None,
    usage: HouseUsage | None = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> HousePage:
    ensure_site_access(user, site_id)
    total, rows = svc.list_houses(
        session, site_id, building_id=building_id, usage=usage, offset=offset, limit=limit
    )
    return HousePage(total=total, offset=offset, limit=limit, items=[_house_out(session, h) for h in rows])


@router.get("/houses/{house_id}", response_model=HouseOut)
def get_house(*, house_id: str, session: SessionDep, user: CurrentUser) -> HouseOut:
    return _house_out(session, _load(session, House, house_id, user))


@router.patch("/houses/{house_id}", response_model=HouseOut)
def update_house(
    *, house_id: str, body: HouseUpdate, session: SessionDep, clock: ClockDep, user: PlaceWriter
) -> HouseOut:
    h = _load(session, House, house_id, user)
    changes = svc.apply_update(h, body, clock.now())
    if "usage" in changes:
        h.qr_serial += 1  # a change of use revokes any printed rental QR code
    _audit(session, user, "update", h, "", clock.now(), fields=sorted(changes))
    return _house_out(session, h)


@router.delete("/houses/{house_id}", status_code=204)
def delete_house(*, house_id: str, session: SessionDep, clock: ClockDep, user: Manager) -> Response:
    return _delete(session, House, house_id, user, clock.now())


class QrOut(ApiModel):
    house_id: str
    token: str


@router.get("/houses/{house_id}/qr", response_model=QrOut)
def house_qr_code(
    *,
    house_id: str,
    request: Request,
    session: SessionDep,
    user: QrReader,
    format: Annotated[str, Query(pattern="^(json|png)$")] = "json",
) -> QrOut | Response:
    """The rental house's QR token (``?format=png`` for a printable image)."""
    h = _load(session, House, house_id, user)
    token = house_qr.house_token(app_signer(request.app), h)
    if format == "png":
        return Response(house_qr.qr_png(token), media_type="image/png")
    return QrOut(house_id=h.id, token=token)


@router.post("/houses/{house_id}/qr/revoke", response_model=QrOut)
def revoke_house_qr(
    *, house_id: str, request: Request, session: SessionDep, clock: ClockDep, user: PlaceWriter
) -> QrOut:
    h = _load(session, House, house_id, user)
    h.qr_serial += 1
    h.updated_at = clock.now()
    _audit(session, user, "update", h, "", clock.now(), qr_serial=h.qr_serial)
    return QrOut(house_id=h.id, token=house_qr.house_token(app_signer(request.app), h))


class QrResolve(ApiModel):
    token: str


@router.post("/houses/qr/resolve", response_model=HouseOut)
def resolve_house_qr(*, body: QrResolve, request: Request, session: SessionDep, user: QrReader) -> HouseOut:
    """What a grid worker's or officer's scan of a door QR shows."""
    h = house_qr.resolve(session, app_signer(request.app), body.token)
    ensure_site_access(user, h.site_id)
    return _house_out(session, h)


# --- households ----------------------------------------------------------------------------


class HouseholdPage(ListOut):
    items: list[HouseholdOut]


@router.post("/households", response_model=HouseholdOut, status_code=201)
def create_household(
    *, body: HouseholdCreate, session: SessionDep, clock: ClockDep, user: PlaceWriter, reason: ReasonDep
) -> Household:
    _load(session, House, body.house_id, user)
    hh = svc.create_household(session, body, clock.now())
    _audit(session, user, "create", hh, reason, clock.now())
    return hh


@router.get("/households", response_model=HouseholdPage)
def list_households(
    *,
    site_id: SiteQ,
    session: SessionDep,
    user: CurrentUser,
    house_id: Annotated[str | None, Query(max_length=36)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> HouseholdPage:
    ensure_site_access(user, site_id)
    total, rows = svc.list_households(session, site_id, house_id=house_id, offset=offset, limit=limit)
    return HouseholdPage(
        total=total, offset=offset, limit=limit, items=[HouseholdOut.model_validate(r) for r in rows]
    )


@router.get("/households/{household_id}", response_model=HouseholdOut)
def get_household(
    *, household_id: str, session: SessionDep, clock: ClockDep, user: CurrentUser, reason: ReasonDep
) -> Household:
    hh = _load(session, Household, household_id, user)
    _audit(session, user, "view", hh, reason, clock.now())
    return hh


@router.patch("/households/{household_id}", response_model=HouseholdOut)
def update_household(
    *,
    household_id: str,
    body: HouseholdUpdate,
    session: SessionDep,
    clock: ClockDep,
    user: PlaceWriter,
    reason: ReasonDep,
) -> Household:
    return _update(session, user, _load(session, Household, household_id, user), body, clock.now(), reason)


@router.delete("/households/{household_id}", status_code=204)
def delete_household(*, household_id: str, session: SessionDep, clock: ClockDep, user: Manager) -> Response:
    return _delete(session, Household, household_id, user, clock.now())


# --- organisations -------------------------------------------------------------------------


@router.post("/organisations", response_model=OrganisationOut, status_code=201)
def create_organisation(
    *, body: OrganisationCreate, session: SessionDep, clock: ClockDep, user: PlaceWriter
) -> Organisation:
    ensure_site_access(user, body.site_id)
    org = svc.create_organisation(session, body, clock.now())
    _audit(session, user, "create", org, "", clock.now(), name=org.name)
    return org


@router.get("/organisations", response_model=list[OrganisationOut])
def list_organisations(*, site_id: SiteQ, session: SessionDep, user: CurrentUser) -> list[Organisation]:
    ensure_site_access(user, site_id)
    return svc.list_organisations(session, site_id)


@router.get("/organisations/{organisation_id}", response_model=OrganisationOut)
def get_organisation(*, organisation_id: str, session: SessionDep, user: CurrentUser) -> Organisation:
    return _load(session, Organisation, organisation_id, user)


@router.patch("/organisations/{organisation_id}", response_model=OrganisationOut)
def update_organisation(
    *, organisation_id: str, body: OrganisationUpdate, session: SessionDep, clock: ClockDep, user: PlaceWriter
) -> Organisation:
    org = _load(session, Organisation, organisation_id, user)
    if "house_id" in body.model_fields_set:
        svc.check_ref(session, House, body.house_id, org.site_id, "house_id")
    changes = svc.apply_update(org, body, clock.now())
    svc.commit_or_conflict(session, "name", "单位名称")
    _audit(session, user, "update", org, "", clock.now(), fields=sorted(changes))
    return org


@router.delete("/organisations/{organisation_id}", status_code=204)
def delete_organisation(
    *, organisation_id: str, session: SessionDep, clock: ClockDep, user: Manager
) -> Response:
    return _delete(session, Organisation, organisation_id, user, clock.now())
