"""Import and export of residents (persons), houses and units (organisations) as .xlsx/.csv.

Imports validate every row first and commit all or nothing: any error → :class:`ValidationFailed`
whose ``fields`` are ``rows.<n>.<field>`` (n = spreadsheet row number, header = row 1), and the
database is unchanged. Duplicates inside the file and against the database are errors too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from anju.errors import AnjuError
from central.db import new_id
from central.errors import CentralError, FieldError, ValidationFailed
from central.idcard import mask_id_number, mask_phone
from central.models.registry import Building, House, Household, Organisation, Person
from central.registry_schemas import HouseCreate, OrganisationCreate, PersonCreate
from central.security import FULL_ID_ROLES, GUARD
from central.services import persons as persons_svc
from central.services.tabular import normalise_headers, write_csv, write_xlsx

MAX_ERRORS = 500

PERSON_ALIASES = {
    "姓名": "name",
    "name": "name",
    "身份证号": "id_number",
    "公民身份号码": "id_number",
    "id_number": "id_number",
    "性别": "gender",
    "gender": "gender",
    "出生日期": "birth_date",
    "birth_date": "birth_date",
    "电话": "phone",
    "联系电话": "phone",
    "手机": "phone",
    "phone": "phone",
    "类型": "kind",
    "人员类型": "kind",
    "kind": "kind",
    "楼栋": "building",
    "building": "building",
    "单元": "unit",
    "unit": "unit",
    "户号": "room",
    "房号": "room",
    "room": "room",
    "独居老人": "elderly_alone",
    "elderly_alone": "elderly_alone",
    "失智": "dementia",
    "dementia": "dementia",
    "备注": "notes",
    "notes": "notes",
}
HOUSE_ALIASES = {
    "楼栋": "building",
    "building": "building",
    "单元": "unit",
    "unit": "unit",
    "楼层": "floor",
    "floor": "floor",
    "户号": "room",
    "房号": "room",
    "room": "room",
    "用途": "usage",
    "房屋用途": "usage",
    "usage": "usage",
    "面积": "area_m2",
    "area_m2": "area_m2",
    "房主": "owner_name",
    "产权人": "owner_name",
    "owner_name": "owner_name",
}
ORG_ALIASES = {
    "名称": "name",
    "单位名称": "name",
    "name": "name",
    "类型": "kind",
    "kind": "kind",
    "统一社会信用代码": "credit_code",
    "credit_code": "credit_code",
    "联系人": "contact_name",
    "contact_name": "contact_name",
    "联系电话": "contact_phone",
    "contact_phone": "contact_phone",
    "楼栋": "building",
    "building": "building",
    "单元": "unit",
    "unit": "unit",
    "户号": "room",
    "room": "room",
}
_KIND_ZH = {
    "业主": "owner",
    "租户": "tenant",
    "家属": "family",
    "家庭成员": "family",
    "员工": "staff",
    "访客": "visitor",
}
_USAGE_ZH = {"自住": "owner_occupied", "出租": "rental", "空置": "vacant"}
_GENDER_ZH = {"男": "male", "女": "female"}
_ORG_ZH = {
    "商铺": "shop",
    "店铺": "shop",
    "公司": "company",
    "企业": "company",
    "机关": "government",
    "其他": "other",
}
_TRUE = {"是", "y", "yes", "true", "1", "√"}
_FALSE = {"否", "n", "no", "false", "0", ""}


class _Skip(Exception):
    """A row already reported its error."""


@dataclass(frozen=True)
class ImportResult:
    created: int
    rows: int


class _RowErrors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, row: int, field: str, msg: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append(FieldError(f"rows.{row}.{field}", msg))

    def from_validation(self, row: int, exc: ValidationError) -> None:
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"]) or "(row)"
            self.add(row, loc, str(e["msg"]))


def _bool(value: str, row: int, field: str, errs: _RowErrors) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v not in _FALSE:
        errs.add(row, field, "应为 是/否 / expected yes/no")
    return False


def _house_lookup(session: Session, site_id: str) -> dict[tuple[str, str, str], House]:
    rows = session.execute(
        select(House, Building.number)
        .join(Building, Building.id == House.building_id)
        .where(House.site_id == site_id)
    ).all()
    return {(num, h.unit, h.room): h for h, num in rows}


def _finish(session: Session, errs: _RowErrors, created: int, total: int) -> ImportResult:
    if errs.items:
        session.rollback()
        raise ValidationFailed(
            f"导入失败：{len(errs.items)}处错误，未导入任何数据",
            f"import refused: {len(errs.items)} errors, nothing written",
            errs.items,
        )
    try:
        session.commit()
    except DBAPIError as exc:
        session.rollback()
        raise ValidationFailed(
            "导入失败：数据库拒绝了部分数据，未导入任何数据", f"import refused by the database: {exc.orig}"
        ) from exc
    return ImportResult(created=created, rows=total)


def _run_rows(
    session: Session,
    rows: list[dict[str, str]],
    errs: _RowErrors,
    handle: Callable[[int, dict[str, str]], None],
) -> int:
    """Validate and add each row. No savepoints (see ``central.db.make_engine``): rows are checked
    before they are added; a database error at a row's flush stops the import (reported)."""
    created = 0
    for i, row in enumerate(rows, start=2):
        try:
            handle(i, row)
            created += 1
        except _Skip:
            continue
        except ValidationError as exc:
            errs.from_validation(i, exc)
        except CentralError as exc:
            if exc.fields:
                for f in exc.fields:
                    errs.add(i, f.field, f"{exc.message_zh}: {f.message}")
            else:
                errs.add(i, "(row)", exc.message_zh)
        except DBAPIError as exc:
            session.rollback()
            errs.add(i, "(row)", f"数据库拒绝此行，导入已停止 / database refused this row: {exc.orig}")
            break
        except AnjuError as exc:
            errs.add(i, "(row)", str(exc))
    return created


def import_persons(
    session: Session, site_id: str, raw: list[dict[str, str]], role: str, now: datetime
) -> ImportResult:
    """Create one person per row; households are found (or created) from 楼栋/单元/户号."""
    rows = normalise_headers(raw, PERSON_ALIASES)
    errs = _RowErrors()
    if not rows:
        errs.add(1, "(file)", "没有数据行 / no data rows")
    houses = _house_lookup(session, site_id)
    households = {
        hh.house_id: hh.id
        for hh in session.scalars(
            select(Household).where(Household.site_id == site_id).order_by(Household.created_at)
        )
    }
    registered = set(
        session.scalars(
            select(Person.id_number).where(Person.site_id == site_id, Person.id_number.is_not(None))
        )
    )
    seen: dict[str, int] = {}

    def handle(i: int, r: dict[str, str]) -> None:
        idn = r.get("id_number", "").strip().upper()
        if idn:
            if idn in seen:
                errs.add(i, "id_number", f"与第{seen[idn]}行重复 / duplicate of row {seen[idn]}")
                raise _Skip
            if idn in registered:
                errs.add(i, "id_number", "该身份证号已登记 / already registered in this site")
                raise _Skip
            seen[idn] = i
        household_id = None
        if r.get("building") or r.get("room"):
            house = houses.get((r.get("building", ""), r.get("unit", "") or "1", r.get("room", "")))
            if house is None:
                errs.add(i, "room", "找不到该房屋（楼栋/单元/户号） / no such house")
                raise _Skip
            household_id = households.get(house.id)
            if household_id is None:
                hh = Household(
                    id=new_id(), site_id=site_id, house_id=house.id, created_at=now, updated_at=now
                )
                session.add(hh)
                households[house.id] = household_id = hh.id
        data: dict[str, Any] = {
            "site_id": site_id,
            "name": r.get("name", ""),
            "id_number": idn or None,
            "gender": _GENDER_ZH.get(r.get("gender", ""), r.get("gender", "")),
            "birth_date": r.get("birth_date") or None,
            "phone": r.get("phone", ""),
            "kind": _KIND_ZH.get(r.get("kind", ""), r.get("kind", "") or "owner"),
            "household_id": household_id,
            "elderly_alone": _bool(r.get("elderly_alone", ""), i, "elderly_alone", errs),
            "dementia": _bool(r.get("dementia", ""), i, "dementia", errs),
            "notes": r.get("notes", ""),
        }
        persons_svc.build_person(session, PersonCreate.model_validate(data), role, now, checked_refs=True)

    created = _run_rows(session, rows, errs, handle)
    return _finish(session, errs, created, len(rows))


def import_houses(session: Session, site_id: str, raw: list[dict[str, str]], now: datetime) -> ImportResult:
    """Create houses; buildings named in 楼栋 are created when missing."""
    rows = normalise_headers(raw, HOUSE_ALIASES)
    errs = _RowErrors()
    if not rows:
        errs.add(1, "(file)", "没有数据行 / no data rows")
    buildings = {b.number: b for b in session.scalars(select(Building).where(Building.site_id == site_id))}
    existing = set(_house_lookup(session, site_id))
    seen: dict[tuple[str, str, str], int] = {}

    def handle(i: int, r: dict[str, str]) -> None:
        num = r.get("building", "").strip()
        key = (num, r.get("unit", "").strip() or "1", r.get("room", "").strip())
        if key in seen:
            errs.add(i, "room", f"与第{seen[key]}行重复 / duplicate of row {seen[key]}")
            raise _Skip
        if key in existing:
            errs.add(i, "room", "该房屋已存在 / house already registered")
            raise _Skip
        seen[key] = i
        if not num:
            errs.add(i, "building", "必填 / required")
            raise _Skip
        b = buildings.get(num)
        if b is None:
            from central.validation import _label

            try:
                _label(num)
            except ValueError as exc:
                errs.add(i, "building", str(exc))
                raise _Skip from None
            b = Building(id=new_id(), site_id=site_id, number=num, created_at=now, updated_at=now)
            session.add(b)
            buildings[num] = b
        data = HouseCreate.model_validate(
            {
                "building_id": b.id,
                "unit": key[1],
                "floor": r.get("floor") or None,
                "room": key[2],
                "usage": _USAGE_ZH.get(r.get("usage", ""), r.get("usage", "") or "owner_occupied"),
                "area_m2": r.get("area_m2") or None,
                "owner_name": r.get("owner_name", ""),
            }
        )
        session.add(House(**data.model_dump(), site_id=site_id, created_at=now, updated_at=now))

    created = _run_rows(session, rows, errs, handle)
    return _finish(session, errs, created, len(rows))


def import_organisations(
    session: Session, site_id: str, raw: list[dict[str, str]], now: datetime
) -> ImportResult:
    rows = normalise_headers(raw, ORG_ALIASES)
    errs = _RowErrors()
    if not rows:
        errs.add(1, "(file)", "没有数据行 / no data rows")
    houses = _house_lookup(session, site_id)
    existing = set(session.scalars(select(Organisation.name).where(Organisation.site_id == site_id)))
    seen: dict[str, int] = {}

    def handle(i: int, r: dict[str, str]) -> None:
        name = r.get("name", "").strip()
        if name in seen or name in existing:
            where = f"与第{seen[name]}行重复" if name in seen else "已登记"
            errs.add(i, "name", f"{where} / duplicate")
            raise _Skip
        seen[name] = i
        house_id = None
        if r.get("building") or r.get("room"):
            house = houses.get((r.get("building", ""), r.get("unit", "") or "1", r.get("room", "")))
            if house is None:
                errs.add(i, "room", "找不到该房屋 / no such house")
                raise _Skip
            house_id = house.id
        data = OrganisationCreate.model_validate(
            {
                "site_id": site_id,
                "name": name,
                "kind": _ORG_ZH.get(r.get("kind", ""), r.get("kind", "") or "shop"),
                "credit_code": r.get("credit_code", "").upper(),
                "house_id": house_id,
                "contact_name": r.get("contact_name", ""),
                "contact_phone": r.get("contact_phone", ""),
            }
        )
        session.add(Organisation(**data.model_dump(), created_at=now, updated_at=now))
        session.flush()

    created = _run_rows(session, rows, errs, handle)
    return _finish(session, errs, created, len(rows))


# --- exports -------------------------------------------------------------------------------


def _render(fmt: str, headers: list[str], rows: list[list[Any]]) -> bytes:
    return write_xlsx(headers, rows) if fmt == "xlsx" else write_csv(headers, rows)


def export_persons(session: Session, site_id: str, role: str, fmt: str) -> tuple[bytes, int]:
    """Residents of a site with their house; ID numbers masked unless ``role`` may see them."""
    q = (
        select(Person, Building.number, House.unit, House.room)
        .outerjoin(Household, Household.id == Person.household_id)
        .outerjoin(House, House.id == Household.house_id)
        .outerjoin(Building, Building.id == House.building_id)
        .where(Person.site_id == site_id)
        .order_by(Building.number, House.unit, House.room, Person.name)
    )
    full = role in FULL_ID_ROLES
    rows = []
    for p, b, u, room in session.execute(q).all():
        rows.append(
            [
                p.name,
                p.id_number if full else mask_id_number(p.id_number),
                {"male": "男", "female": "女"}.get(p.gender, ""),
                p.birth_date.isoformat() if p.birth_date else "",
                mask_phone(p.phone) if role == GUARD else p.phone,
                {v: k for k, v in _KIND_ZH.items() if k != "家庭成员"}.get(p.kind, p.kind),
                b or "",
                u or "",
                room or "",
                "是" if p.elderly_alone else "否",
                "是" if p.dementia else "否",
                "" if role == GUARD else p.notes,
            ]
        )
    headers = [
        "姓名",
        "身份证号",
        "性别",
        "出生日期",
        "电话",
        "类型",
        "楼栋",
        "单元",
        "户号",
        "独居老人",
        "失智",
        "备注",
    ]
    return _render(fmt, headers, rows), len(rows)


def export_houses(session: Session, site_id: str, fmt: str) -> tuple[bytes, int]:
    q = (
        select(House, Building.number)
        .join(Building, Building.id == House.building_id)
        .where(House.site_id == site_id)
        .order_by(Building.number, House.unit, House.room)
    )
    usage = {v: k for k, v in _USAGE_ZH.items()}
    rows = [
        [num, h.unit, h.floor, h.room, usage.get(h.usage, h.usage), h.area_m2 or "", h.owner_name]
        for h, num in session.execute(q).all()
    ]
    return _render(fmt, ["楼栋", "单元", "楼层", "户号", "用途", "面积", "房主"], rows), len(rows)


def export_organisations(session: Session, site_id: str, fmt: str) -> tuple[bytes, int]:
    kinds = {"shop": "商铺", "company": "公司", "government": "机关", "other": "其他"}
    rows = [
        [o.name, kinds.get(o.kind, o.kind), o.credit_code, o.contact_name, o.contact_phone]
        for o in session.scalars(
            select(Organisation).where(Organisation.site_id == site_id).order_by(Organisation.name)
        )
    ]
    return _render(fmt, ["名称", "类型", "统一社会信用代码", "联系人", "联系电话"], rows), len(rows)
