"""Request/response models of the registry (一标三实): sites, buildings, houses, households,
units, persons."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from central.schemas import ApiModel
from central.validation import (
    Code,
    DivisionCode,
    IdNumber,
    Label,
    LongText,
    OrgName,
    PersonName,
    Phone,
    ShortText,
)

HouseUsage = Literal["owner_occupied", "rental", "vacant"]
PersonKind = Literal["owner", "tenant", "family", "staff", "visitor"]
OrgKind = Literal["shop", "company", "government", "other"]
Watchlist = Literal["key_person", "drug", "mental_illness", "wanted", "parolee", "other"]
Gender = Literal["", "male", "female"]

# 统一社会信用代码: 18 characters of digits and capitals (I, O, S, V, Z excluded).
CreditCode = Annotated[str, StringConstraints(pattern=r"^([0-9A-HJ-NPQRTUWXY]{18})?$")]

MIN_DATE = date(1890, 1, 1)
MAX_DATE = date(2200, 1, 1)


class SiteCreate(ApiModel):
    name: OrgName
    code: Code
    division_code: DivisionCode = ""
    division_name: ShortText = ""
    street: ShortText = ""
    community: ShortText = ""
    address: ShortText = ""
    timezone: Literal["Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei"] = (
        "Asia/Shanghai"
    )


class SiteUpdate(ApiModel):
    name: OrgName | None = None
    division_code: DivisionCode | None = None
    division_name: ShortText | None = None
    street: ShortText | None = None
    community: ShortText | None = None
    address: ShortText | None = None


class SiteOut(ApiModel):
    id: str
    name: str
    code: str
    division_code: str
    division_name: str
    street: str
    community: str
    address: str
    timezone: str


class BuildingCreate(ApiModel):
    site_id: str = Field(max_length=36)
    number: Label
    name: ShortText = ""
    floors: int | None = Field(None, ge=1, le=200)
    units: int | None = Field(None, ge=1, le=50)


class BuildingUpdate(ApiModel):
    name: ShortText | None = None
    floors: int | None = Field(None, ge=1, le=200)
    units: int | None = Field(None, ge=1, le=50)


class BuildingOut(ApiModel):
    id: str
    site_id: str
    number: str
    name: str
    floors: int | None
    units: int | None


class HouseCreate(ApiModel):
    building_id: str = Field(max_length=36)
    unit: Label = "1"
    floor: int = Field(ge=-5, le=200)
    room: Label
    usage: HouseUsage = "owner_occupied"
    area_m2: float | None = Field(None, gt=0, le=100000)
    owner_name: ShortText = ""


class HouseUpdate(ApiModel):
    usage: HouseUsage | None = None
    area_m2: float | None = Field(None, gt=0, le=100000)
    owner_name: ShortText | None = None


class HouseOut(ApiModel):
    id: str
    site_id: str
    building_id: str
    unit: str
    floor: int
    room: str
    usage: str
    area_m2: float | None
    owner_name: str
    address: str = ""  # the full standard address, filled by the router


class HouseholdCreate(ApiModel):
    house_id: str = Field(max_length=36)
    name: ShortText = ""
    phone: Phone = ""
    lease_start: date | None = Field(None, ge=MIN_DATE, le=MAX_DATE)
    lease_end: date | None = Field(None, ge=MIN_DATE, le=MAX_DATE)

    @model_validator(mode="after")
    def _lease(self) -> HouseholdCreate:
        if self.lease_start and self.lease_end and self.lease_end < self.lease_start:
            raise ValueError("lease_end: 租期结束早于开始 / lease ends before it starts")
        return self


class HouseholdUpdate(ApiModel):
    name: ShortText | None = None
    phone: Phone | None = None
    lease_start: date | None = Field(None, ge=MIN_DATE, le=MAX_DATE)
    lease_end: date | None = Field(None, ge=MIN_DATE, le=MAX_DATE)


class HouseholdOut(ApiModel):
    id: str
    site_id: str
    house_id: str
    name: str
    phone: str
    lease_start: date | None
    lease_end: date | None


class OrganisationCreate(ApiModel):
    site_id: str = Field(max_length=36)
    name: OrgName
    kind: OrgKind = "shop"
    credit_code: CreditCode = ""
    house_id: str | None = Field(None, max_length=36)
    contact_name: ShortText = ""
    contact_phone: Phone = ""


class OrganisationUpdate(ApiModel):
    name: OrgName | None = None
    kind: OrgKind | None = None
    credit_code: CreditCode | None = None
    house_id: str | None = Field(None, max_length=36)
    contact_name: ShortText | None = None
    contact_phone: Phone | None = None


class OrganisationOut(ApiModel):
    id: str
    site_id: str
    name: str
    kind: str
    credit_code: str
    house_id: str | None
    contact_name: str
    contact_phone: str


class PersonCreate(ApiModel):
    site_id: str = Field(max_length=36)
    name: PersonName
    id_number: IdNumber = None
    gender: Gender = ""
    birth_date: date | None = Field(None, ge=MIN_DATE, le=MAX_DATE)
    phone: Phone = ""
    kind: PersonKind = "owner"
    household_id: str | None = Field(None, max_length=36)
    organisation_id: str | None = Field(None, max_length=36)
    elderly_alone: bool = False
    dementia: bool = False
    watchlist_category: Watchlist | None = None
    notes: LongText = ""


class PersonUpdate(ApiModel):
    name: PersonName | None = None
    id_number: IdNumber = None
    gender: Gender | None = None
    birth_date: date | None = Field(None, ge=MIN_DATE, le=MAX_DATE)
    phone: Phone | None = None
    kind: PersonKind | None = None
    household_id: str | None = Field(None, max_length=36)
    organisation_id: str | None = Field(None, max_length=36)
    elderly_alone: bool | None = None
    dementia: bool | None = None
    watchlist_category: Watchlist | None = None
    notes: LongText | None = None
    status: Literal["active", "moved_out"] | None = None


class PersonOut(ApiModel):
    id: str
    site_id: str
    name: str
    id_number: str | None
    id_number_masked: bool
    gender: str
    birth_date: date | None
    phone: str
    kind: str
    status: str
    household_id: str | None
    organisation_id: str | None
    elderly_alone: bool
    minor: bool
    dementia: bool
    watchlist_category: str | None
    notes: str
    has_face: bool
    created_at: datetime
    updated_at: datetime


class ListOut(ApiModel):
    total: int
    offset: int
    limit: int
