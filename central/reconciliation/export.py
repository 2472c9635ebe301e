"""一标三实 exchange with the police platform: export records, import the platform's updates.

Export: four record kinds — standard addresses (标准地址), houses (实有房屋), persons
(实有人口) and units (实有单位) — as JSON (one document) or CSV (one table per kind), with
the platform's field names (see ``docs/yibiao-sanshi.md`` for the mapping).

Import: the platform sends person updates keyed by 公民身份号码 (``GMSFHM``) with an
operation ``CZLX``: ``1`` register/update, ``2`` moved out (注销/迁出). Each changed person
flows to every edge whitelist through ``central.services.whitelist.mark_person_changed``.
An identical file imported twice changes nothing (content digest).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.errors import FieldError, ValidationFailed
from central.reconciliation.models import PlatformImport
from central.services.audit import Actor, record

log = logging.getLogger(__name__)

# Platform field → meaning. Keep in step with docs/yibiao-sanshi.md.
ADDRESS_FIELDS = ("DZBM", "XZQHDM", "XZQHMC", "JDMC", "SQMC", "XQMC", "LDH", "DYH", "LC", "FJH", "BZDZ")
HOUSE_FIELDS = ("FWBM", "DZBM", "BZDZ", "FWYT", "JZMJ", "FZXM")
PERSON_FIELDS = ("RYBM", "XM", "GMSFHM", "XB", "CSRQ", "LXDH", "RYLB", "RYZT", "DZBM", "BZDZ", "HH", "QCRQ")
UNIT_FIELDS = ("DWBM", "DWMC", "TYSHXYDM", "DWLB", "DZBM", "BZDZ", "LXR", "LXDH")
KINDS = {"addresses": ADDRESS_FIELDS, "houses": HOUSE_FIELDS, "persons": PERSON_FIELDS, "units": UNIT_FIELDS}

USAGE_CODES = {"owner_occupied": "自住", "rental": "出租", "vacant": "空置"}
KIND_CODES = {
    "owner": "户主/业主",
    "tenant": "租户",
    "family": "家庭成员",
    "staff": "从业人员",
    "visitor": "访客",
}
STATUS_CODES = {"active": "在住", "moved_out": "迁出"}
ORG_CODES = {"shop": "商铺", "company": "企业", "government": "机关", "other": "其他"}


def standard_address(site: Any, building: Any | None, house: Any | None) -> str:
    """省市区 + 街道 + 社区 + 小区 + 楼栋 + 单元 + 户号, the platform's 标准地址 text."""
    parts = [site.division_name, site.street, site.community, site.name]
    if building is not None:
        parts.append(f"{building.number}栋")
    if house is not None:
        parts.append(f"{house.unit}单元{house.room}室")
    return "".join(p for p in parts if p)


@dataclass
class ExportBundle:
    records: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"version": 1, **self.records}, ensure_ascii=False, indent=1)

    def to_csv(self, kind: str) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(KINDS[kind]), lineterminator="\n")
        w.writeheader()
        for row in self.records.get(kind, []):
            w.writerow(row)
        return buf.getvalue()


def _d(value: date | datetime | None) -> str:
    return "" if value is None else value.strftime("%Y%m%d")


def export_site(
    session: Session, site_id: str, actor: Actor, now: datetime, reason: str = ""
) -> ExportBundle:
    """All 一标三实 records of a site (audited: exports contain personal data)."""
    from central.models.registry import Building, House, Household, Organisation, Person, Site

    site = session.get(Site, site_id)
    if site is None:
        raise ValidationFailed("小区不存在", "site not found", [FieldError("site_id", "unknown")])
    buildings = {b.id: b for b in session.scalars(select(Building).where(Building.site_id == site_id))}
    houses = {h.id: h for h in session.scalars(select(House).where(House.site_id == site_id))}
    households = {h.id: h for h in session.scalars(select(Household).where(Household.site_id == site_id))}
    bundle = ExportBundle({k: [] for k in KINDS})
    for h in sorted(
        houses.values(), key=lambda h: (buildings[h.building_id].number, h.unit, h.floor, h.room)
    ):
        b = buildings[h.building_id]
        addr = standard_address(site, b, h)
        bundle.records["addresses"].append(
            {
                "DZBM": h.id,
                "XZQHDM": site.division_code,
                "XZQHMC": site.division_name,
                "JDMC": site.street,
                "SQMC": site.community,
                "XQMC": site.name,
                "LDH": b.number,
                "DYH": h.unit,
                "LC": str(h.floor),
                "FJH": h.room,
                "BZDZ": addr,
            }
        )
        bundle.records["houses"].append(
            {
                "FWBM": h.id,
                "DZBM": h.id,
                "BZDZ": addr,
                "FWYT": USAGE_CODES.get(h.usage, h.usage),
                "JZMJ": "" if h.area_m2 is None else f"{h.area_m2:g}",
                "FZXM": h.owner_name,
            }
        )
    for p in session.scalars(select(Person).where(Person.site_id == site_id).order_by(Person.name)):
        hh = households.get(p.household_id or "")
        ph = houses.get(hh.house_id) if hh else None
        pb = buildings.get(ph.building_id) if ph else None
        bundle.records["persons"].append(
            {
                "RYBM": p.id,
                "XM": p.name,
                "GMSFHM": p.id_number or "",
                "XB": p.gender,
                "CSRQ": _d(p.birth_date),
                "LXDH": p.phone,
                "RYLB": KIND_CODES.get(p.kind, p.kind),
                "RYZT": STATUS_CODES.get(p.status, p.status),
                "DZBM": ph.id if ph else "",
                "BZDZ": standard_address(site, pb, ph) if ph else "",
                "HH": hh.id if hh else "",
                "QCRQ": _d(p.moved_out_at),
            }
        )
    for o in session.scalars(select(Organisation).where(Organisation.site_id == site_id)):
        oh = houses.get(o.house_id or "")
        ob = buildings.get(oh.building_id) if oh else None
        bundle.records["units"].append(
            {
                "DWBM": o.id,
                "DWMC": o.name,
                "TYSHXYDM": o.credit_code,
                "DWLB": ORG_CODES.get(o.kind, o.kind),
                "DZBM": oh.id if oh else "",
                "BZDZ": standard_address(site, ob, oh) if oh else standard_address(site, None, None),
                "LXR": o.contact_name,
                "LXDH": o.contact_phone,
            }
        )
    counts = {k: len(v) for k, v in bundle.records.items()}
    record(
        session,
        actor=actor,
        action="export",
        object_type="yibiao_sanshi",
        object_id=site_id,
        site_id=site_id,
        reason=reason,
        detail=counts,
        now=now,
    )
    return bundle


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    created: int
    updated: int
    moved_out: int
    unchanged: int
    already_imported: bool = False
    errors: tuple[str, ...] = ()


def parse_updates(data: bytes, fmt: str) -> list[dict[str, str]]:
    """Rows of a platform update file (JSON: ``{"persons": [...]}`` or a list; CSV with a header)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            "文件不是 UTF-8 编码", "file is not UTF-8", [FieldError("file", str(exc))]
        ) from exc
    if fmt == "json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ValidationFailed("JSON 格式错误", "invalid JSON", [FieldError("file", str(exc))]) from exc
        rows = doc.get("persons") if isinstance(doc, dict) else doc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValidationFailed(
                "缺少 persons 列表",
                "expected a list of person objects",
                [FieldError("persons", "not a list of objects")],
            )
        return [{str(k): "" if v is None else str(v) for k, v in r.items()} for r in rows]
    return [dict(r) for r in csv.DictReader(io.StringIO(text))]


def import_updates(
    session: Session, site_id: str, data: bytes, fmt: str, actor: Actor, now: datetime
) -> ImportSummary:
    """Apply the platform's person updates (all-or-nothing: any row error rejects the file)."""
    from central.models.registry import Person
    from central.services import whitelist

    digest = hashlib.sha256(data).hexdigest()
    done = session.scalars(
        select(PlatformImport).where(PlatformImport.site_id == site_id, PlatformImport.digest == digest)
    ).first()
    if done is not None:
        return ImportSummary(
            rows=done.rows, created=0, updated=0, moved_out=0, unchanged=done.rows, already_imported=True
        )
    rows = parse_updates(data, fmt)
    errors = []
    for i, r in enumerate(rows, start=2 if fmt == "csv" else 1):
        if not r.get("GMSFHM") or len(r["GMSFHM"]) not in (15, 18):
            errors.append(f"row {i}: GMSFHM (公民身份号码) missing or not 15/18 characters")
        if r.get("CZLX", "1") not in ("1", "2"):
            errors.append(f"row {i}: CZLX must be 1 (登记/更新) or 2 (迁出)")
        if r.get("CZLX", "1") == "1" and not r.get("XM"):
            errors.append(f"row {i}: XM (姓名) missing")
    if errors:
        raise ValidationFailed(
            "导入文件有错误，未导入任何记录",
            "import rejected; nothing was changed",
            [FieldError("file", e) for e in errors[:50]],
        )
    created = updated = moved = unchanged = 0
    for r in rows:
        p = session.scalars(
            select(Person).where(Person.site_id == site_id, Person.id_number == r["GMSFHM"])
        ).first()
        if r.get("CZLX", "1") == "2":
            if p is None or p.status == "moved_out":
                unchanged += 1
                continue
            p.status, p.moved_out_at, p.updated_at = "moved_out", now, now
            moved += 1
        elif p is None:
            p = Person(
                site_id=site_id,
                name=r["XM"][:64],
                id_number=r["GMSFHM"],
                gender=r.get("XB", "")[:8],
                phone=r.get("LXDH", "")[:32],
                kind="tenant",
                created_at=now,
                updated_at=now,
                notes="公安平台导入 imported from the police platform",
            )
            session.add(p)
            session.flush()
            created += 1
        else:
            changes = {"name": r["XM"][:64], "phone": r.get("LXDH", p.phone)[:32], "status": "active"}
            if all(getattr(p, k) == v for k, v in changes.items()):
                unchanged += 1
                continue
            for k, v in changes.items():
                setattr(p, k, v)
            p.moved_out_at, p.updated_at = None, now
            updated += 1
        whitelist.mark_person_changed(session, site_id, p.id, "platform_import")
    summary = ImportSummary(
        rows=len(rows), created=created, updated=updated, moved_out=moved, unchanged=unchanged
    )
    session.add(
        PlatformImport(
            site_id=site_id,
            digest=digest,
            at=now,
            rows=len(rows),
            summary={"created": created, "updated": updated, "moved_out": moved},
        )
    )
    record(
        session,
        actor=actor,
        action="import",
        object_type="yibiao_sanshi",
        object_id=digest[:16],
        site_id=site_id,
        detail={"rows": len(rows), "created": created, "updated": updated, "moved_out": moved},
        now=now,
    )
    session.flush()
    return summary
