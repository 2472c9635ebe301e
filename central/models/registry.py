"""一标三实 registry: standard addresses (标准地址), and the 实有房屋 / 实有人口 / 实有单位.

Address hierarchy: 行政区划 (division code) / 街道 / 社区 are fields of :class:`Site` (= 小区);
楼栋 is :class:`Building`; 单元 / 楼层 / 户号 are fields of :class:`House`.
Every row carries ``site_id`` so object-level checks need no joins.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, IdMixin, TimestampMixin, UTCDateTime

HOUSE_USAGES = ("owner_occupied", "rental", "vacant")
PERSON_KINDS = ("owner", "tenant", "family", "staff", "visitor")
PERSON_STATUSES = ("active", "moved_out")
WATCHLIST_CATEGORIES = ("key_person", "drug", "mental_illness", "wanted", "parolee", "other")
ORG_KINDS = ("shop", "company", "government", "other")


class Site(IdMixin, TimestampMixin, Base):
    """A 小区 (compound) with the upper levels of its standard address."""

    __tablename__ = "sites"

    name: Mapped[str] = mapped_column(String(128), nullable=False)
    code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    division_code: Mapped[str] = mapped_column(String(12), nullable=False, default="")  # 行政区划代码
    division_name: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # 省市区
    street: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # 街道
    community: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # 社区
    address: Mapped[str] = mapped_column(String(256), nullable=False, default="")  # 门牌地址
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="Asia/Shanghai")


class Building(IdMixin, TimestampMixin, Base):
    """楼栋."""

    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("site_id", "number"),)

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False)  # 楼栋号, e.g. "3"
    name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    floors: Mapped[int | None] = mapped_column(Integer, nullable=True)
    units: Mapped[int | None] = mapped_column(Integer, nullable=True)


class House(IdMixin, TimestampMixin, Base):
    """实有房屋: one dwelling or shop at 楼栋/单元/楼层/户号. Rental houses carry a QR token."""

    __tablename__ = "houses"
    __table_args__ = (UniqueConstraint("building_id", "unit", "room"),)

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    building_id: Mapped[str] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    unit: Mapped[str] = mapped_column(String(16), nullable=False, default="1")  # 单元
    floor: Mapped[int] = mapped_column(Integer, nullable=False)  # 楼层
    room: Mapped[str] = mapped_column(String(16), nullable=False)  # 户号
    usage: Mapped[str] = mapped_column(String(20), nullable=False, default="owner_occupied")
    area_m2: Mapped[float | None] = mapped_column(Float, nullable=True)
    owner_name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    qr_serial: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # bump to revoke old QR


class Household(IdMixin, TimestampMixin, Base):
    """户: the people living together in one house."""

    __tablename__ = "households"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    phone: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    lease_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    lease_end: Mapped[date | None] = mapped_column(Date, nullable=True)


class Organisation(IdMixin, TimestampMixin, Base):
    """实有单位: a shop or company in the compound."""

    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="shop")
    credit_code: Mapped[str] = mapped_column(String(18), nullable=False, default="")  # 统一社会信用代码
    house_id: Mapped[str | None] = mapped_column(ForeignKey("houses.id", ondelete="SET NULL"), nullable=True)
    contact_name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    contact_phone: Mapped[str] = mapped_column(String(32), nullable=False, default="")


class Person(IdMixin, TimestampMixin, Base):
    """实有人口. ``id_number`` (居民身份证号) is stored in full and masked in responses by role.

    Special-care flags drive alert rules (长时间不出现 for ``elderly_alone``, lost-person for
    ``dementia``); ``watchlist_category`` marks 重点人员. ``has_face`` mirrors whether face
    templates exist (kept by the enrolment service).
    """

    __tablename__ = "persons"
    __table_args__ = (UniqueConstraint("site_id", "id_number"),)

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    household_id: Mapped[str | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL"), nullable=True, index=True
    )
    organisation_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    id_number: Mapped[str | None] = mapped_column(String(18), nullable=True)
    gender: Mapped[str] = mapped_column(String(8), nullable=False, default="")
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    phone: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="owner")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    elderly_alone: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    minor: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    dementia: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    watchlist_category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    has_face: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    moved_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
