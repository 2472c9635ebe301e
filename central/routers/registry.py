"""Registry of places: sites, buildings, houses (with rental QR), households, organisations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

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


def _audit(
    session: SessionDep, user: User, action: str, obj: object, reason: str, now: object, **detail: object
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
        now=now,  # type: ignore[arg-type]
    )
    session.commit()


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
    site = svc.get_in(session, Site, site_id)
    ensure_site_access(user, site.id)
    return site


@router.patch("/sites/{site_id}", response_model=SiteOut)
def update_site(
    *, site_id: str, body: SiteUpdate, session: SessionDep, clock: ClockDep, user: Manager
) -> Site:
    site = svc.get_in(session, Site, site_id)
    ensure_site_access(user, site.id)
    changes = svc.apply_update(site, body, clock.now())
    _audit(session, user, "update", site, "", clock.now(), fields=sorted(changes))
    return site


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
    b = svc.get_in(session, Building, building_id)
    ensure_site_access(user, b.site_id)
    return b


@router.patch("/buildings/{building_id}", response_model=BuildingOut)
def update_building(
    *, building_id: str, body: BuildingUpdate, session: SessionDep, clock: ClockDep, user: PlaceWriter
) -> Building:
    b = svc.get_in(session, Building, building_id)
    ensure_site_access(user, b.site_id)
    changes = svc.apply_update(b, body, clock.now())
    _audit(session, user, "update", b, "", clock.now(), fields=sorted(changes))
    return b


@router.delete("/buildings/{building_id}", status_code=204)
def delete_building(*, building_id: str, session: SessionDep, clock: ClockDep, user: Manager) -> Response:
    b = svc.get_in(session, Building, building_id)
    ensure_site_access(user, b.site_id)
    audit.record(
        session,
        actor=actor_of(user),
        action="delete",
        object_type="building",
        object_id=b.id,
        site_id=b.site_id,
        now=clock.now(),
    )
    svc.delete_obj(session, b)
    return Response(status_code=204)


# --- houses --------------------------------------------------------------------------------


class HousePage(ListOut):
    items: list[HouseOut]


def _house_out(session: SessionDep, h: House) -> HouseOut:
    out = HouseOut.model_validate(h)
    out.address = svc.standard_address(session, h)
    return out


@router.post("/houses", response_model=HouseOut, status_code=201)
def create_house(*, body: HouseCreate, session: SessionDep, clock: ClockDep, user: PlaceWriter) -> HouseOut:
    building = svc.get_in(session, Building, body.building_id)
    ensure_site_access(user, building.site_id)
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
    h = svc.get_in(session, House, house_id)
    ensure_site_access(user, h.site_id)
    return _house_out(session, h)


@router.patch("/houses/{house_id}", response_model=HouseOut)
def update_house(
    *, house_id: str, body: HouseUpdate, session: SessionDep, clock: ClockDep, user: PlaceWriter
) -> HouseOut:
    h = svc.get_in(session, House, house_id)
    ensure_site_access(user, h.site_id)
    changes = svc.apply_update(h, body, clock.now())
    if "usage" in changes:
        h.qr_serial += 1  # a change of use revokes any printed rental QR code
    _audit(session, user, "update", h, "", clock.now(), fields=sorted(changes))
    return _house_out(session, h)


@router.delete("/houses/{house_id}", status_code=204)
def delete_house(*, house_id: str, session: SessionDep, clock: ClockDep, user: Manager) -> Response:
    h = svc.get_in(session, House, house_id)
    ensure_site_access(user, h.site_id)
    audit.record(
        session,
        actor=actor_of(user),
        action="delete",
        object_type="house",
        object_id=h.id,
        site_id=h.site_id,
        now=clock.now(),
    )
    svc.delete_obj(session, h)
    return Response(status_code=204)


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
    h = svc.get_in(session, House, house_id)
    ensure_site_access(user, h.site_id)
    token = house_qr.house_token(app_signer(request.app), h)
    if format == "png":
        return Response(house_qr.qr_png(token), media_type="image/png")
    return QrOut(house_id=h.id, token=token)


@router.post("/houses/{house_id}/qr/revoke", response_model=QrOut)
def revoke_house_qr(
    *, house_id: str, request: Request, session: SessionDep, clock: ClockDep, user: PlaceWriter
) -> QrOut:
    h = svc.get_in(session, House, house_id)
    ensure_site_access(user, h.site_id)
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
    house = svc.get_in(session, House, body.house_id)
    ensure_site_access(user, house.site_id)
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
    hh = svc.get_in(session, Household, household_id)
    ensure_site_access(user, hh.site_id)
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
    hh = svc.get_in(session, Household, household_id)
    ensure_site_access(user, hh.site_id)
    changes = svc.apply_update(hh, body, clock.now())
    _audit(session, user, "update", hh, reason, clock.now(), fields=sorted(changes))
    return hh


@router.delete("/households/{household_id}", status_code=204)
def delete_household(*, household_id: str, session: SessionDep, clock: ClockDep, user: Manager) -> Response:
    hh = svc.get_in(session, Household, household_id)
    ensure_site_access(user, hh.site_id)
    audit.record(
        session,
        actor=actor_of(user),
        action="delete",
        object_type="household",
        object_id=hh.id,
        site_id=hh.site_id,
        now=clock.now(),
    )
    svc.delete_obj(session, hh)
    return Response(status_code=204)


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
    org = svc.get_in(session, Organisation, organisation_id)
    ensure_site_access(user, org.site_id)
    return org


@router.patch("/organisations/{organisation_id}", response_model=OrganisationOut)
def update_organisation(
    *, organisation_id: str, body: OrganisationUpdate, session: SessionDep, clock: ClockDep, user: PlaceWriter
) -> Organisation:
    org = svc.get_in(session, Organisation, organisation_id)
    ensure_site_access(user, org.site_id)
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
    org = svc.get_in(session, Organisation, organisation_id)
    ensure_site_access(user, org.site_id)
    audit.record(
        session,
        actor=actor_of(user),
        action="delete",
        object_type="organisation",
        object_id=org.id,
        site_id=org.site_id,
        now=clock.now(),
    )
    svc.delete_obj(session, org)
    return Response(status_code=204)
