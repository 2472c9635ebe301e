"""Registry services for places: sites (小区), buildings (楼栋), houses (房屋), households (户),
organisations (单位). Each function validates cross-object rules (same site, parent exists),
raises domain errors and commits.

Call :func:`get_in` to load any site-scoped object (NotFound if absent); routers then call
``ensure_site_access(user, obj.site_id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central.db import Base
from central.errors import Conflict, FieldError, NotFound, ValidationFailed
from central.models.registry import Building, House, Household, Organisation, Site
from central.registry_schemas import (
    BuildingCreate,
    HouseCreate,
    HouseholdCreate,
    OrganisationCreate,
    SiteCreate,
)

T = TypeVar("T", bound=Base)

_WHAT_ZH = {
    "Site": "小区",
    "Building": "楼栋",
    "House": "房屋",
    "Household": "住户",
    "Organisation": "单位",
    "Person": "人员",
}


def get_in(session: Session, model: type[T], obj_id: str) -> T:
    """Load ``model`` by id or raise :class:`NotFound` naming what is missing."""
    obj = session.get(model, obj_id) if obj_id else None
    if obj is None:
        name = model.__name__
        raise NotFound(f"{_WHAT_ZH.get(name, name)}不存在", f"{name.lower()} {obj_id!r} not found")
    return obj


def commit_or_conflict(session: Session, field: str, what_zh: str) -> None:
    """Commit; a unique-constraint violation becomes :class:`Conflict` on ``field``."""
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"{what_zh}已存在", "already exists", [FieldError(field, "duplicate")]) from exc


def apply_update(obj: Any, data: BaseModel, now: datetime) -> dict[str, Any]:
    """Set the fields given in ``data`` (exclude_unset); return {field: new value} of real changes."""
    changes: dict[str, Any] = {}
    for key, value in data.model_dump(exclude_unset=True).items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changes[key] = value
    if changes:
        obj.updated_at = now
    return changes


def _ref(session: Session, model: type[T], obj_id: str | None, site_id: str, field: str) -> T | None:
    """A referenced object that must exist in the same site, else ValidationFailed on ``field``."""
    if obj_id is None:
        return None
    obj = session.get(model, obj_id)
    if obj is None or getattr(obj, "site_id", None) != site_id:
        raise ValidationFailed(
            "引用的对象不存在或不属于该小区",
            "referenced object not found in this site",
            [FieldError(field, f"no such {model.__name__.lower()} in this site")],
        )
    return obj


# --- sites ---------------------------------------------------------------------------------


def create_site(session: Session, data: SiteCreate, now: datetime) -> Site:
    site = Site(**data.model_dump(), created_at=now, updated_at=now)
    session.add(site)
    commit_or_conflict(session, "code", "小区编码")
    return site


def list_sites(session: Session, site_ids: Sequence[str] | None) -> list[Site]:
    """All sites (``site_ids`` None, admin) or those listed."""
    q = select(Site).order_by(Site.name)
    if site_ids is not None:
        q = q.where(Site.id.in_(site_ids))
    return list(session.scalars(q))


# --- buildings -----------------------------------------------------------------------------


def create_building(session: Session, data: BuildingCreate, now: datetime) -> Building:
    get_in(session, Site, data.site_id)
    b = Building(**data.model_dump(), created_at=now, updated_at=now)
    session.add(b)
    commit_or_conflict(session, "number", "楼栋号")
    return b


def list_buildings(session: Session, site_id: str) -> list[Building]:
    return list(
        session.scalars(select(Building).where(Building.site_id == site_id).order_by(Building.number))
    )


# --- houses --------------------------------------------------------------------------------


def create_house(session: Session, data: HouseCreate, now: datetime) -> House:
    building = get_in(session, Building, data.building_id)
    if building.floors is not None and data.floor > building.floors:
        raise ValidationFailed(
            "楼层超出楼栋层数",
            "floor above the building's floors",
            [FieldError("floor", f"max {building.floors}")],
        )
    h = House(**data.model_dump(), site_id=building.site_id, created_at=now, updated_at=now)
    session.add(h)
    commit_or_conflict(session, "room", "该单元户号")
    return h


def standard_address(session: Session, house: House) -> str:
    """社区/小区/楼栋/单元/楼层/户号 as one line.

    E.g. ``西湖区 北山街道 曙光社区 阳光小区 3栋2单元5层502室``.
    """
    site = session.get(Site, house.site_id)
    building = session.get(Building, house.building_id)
    parts = [p for p in (site.division_name, site.street, site.community, site.name) if p] if site else []
    b = building.number if building else "?"
    return " ".join([*parts, f"{b}栋{house.unit}单元{house.floor}层{house.room}室"])


def list_houses(
    session: Session,
    site_id: str,
    *,
    building_id: str | None = None,
    usage: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[House]]:
    q = select(House).where(House.site_id == site_id)
    if building_id:
        q = q.where(House.building_id == building_id)
    if usage:
        q = q.where(House.usage == usage)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(House.building_id, House.unit, House.room).offset(offset).limit(limit))
    return total, list(rows)


# --- households ----------------------------------------------------------------------------


def create_household(session: Session, data: HouseholdCreate, now: datetime) -> Household:
    house = get_in(session, House, data.house_id)
    hh = Household(**data.model_dump(), site_id=house.site_id, created_at=now, updated_at=now)
    session.add(hh)
    session.commit()
    return hh


def list_households(
    session: Session, site_id: str, *, house_id: str | None = None, offset: int = 0, limit: int = 100
) -> tuple[int, list[Household]]:
    q = select(Household).where(Household.site_id == site_id)
    if house_id:
        q = q.where(Household.house_id == house_id)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    return total, list(session.scalars(q.order_by(Household.created_at).offset(offset).limit(limit)))


# --- organisations -------------------------------------------------------------------------


def create_organisation(session: Session, data: OrganisationCreate, now: datetime) -> Organisation:
    get_in(session, Site, data.site_id)
    _ref(session, House, data.house_id, data.site_id, "house_id")
    org = Organisation(**data.model_dump(), created_at=now, updated_at=now)
    session.add(org)
    commit_or_conflict(session, "name", "单位名称")
    return org


def list_organisations(session: Session, site_id: str) -> list[Organisation]:
    return list(
        session.scalars(
            select(Organisation).where(Organisation.site_id == site_id).order_by(Organisation.name)
        )
    )


def check_ref(session: Session, model: type[T], obj_id: str | None, site_id: str, field: str) -> T | None:
    """Public form of the same-site reference check used by other services."""
    return _ref(session, model, obj_id, site_id, field)


def delete_obj(session: Session, obj: Base) -> None:
    session.delete(obj)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("仍被其他记录引用，不能删除", "still referenced; cannot delete") from exc
