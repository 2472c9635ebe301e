"""Retention periods: admins read and change them globally or per site (audited, old → new).

``GET /retention`` (``site_id`` optional: without it the global values) and ``PUT /retention``.
The configured ``ANJU_RETENTION__*`` values are the defaults and ceilings; see
``central.services.retention_admin``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from central.deps import ClockDep, SessionDep, SettingsDep, actor_of, require_roles
from central.models.users import User
from central.schemas import ApiModel
from central.services import retention_admin

router = APIRouter(tags=["retention"])

Admin = Annotated[User, Depends(require_roles())]  # admin only


class PeriodOut(ApiModel):
    field: str
    label_zh: str
    label_en: str
    days: int
    source: str = Field(description="site, global or config: where the value comes from")
    default: int = Field(description="the configured value, also the ceiling")
    min: int
    max: int
    global_only: bool


class RetentionOut(ApiModel):
    site_id: str | None
    periods: list[PeriodOut]


class RetentionIn(ApiModel):
    site_id: str | None = Field(None, max_length=36, description="None: the global values")
    periods: dict[str, int | None] = Field(description="days per field; null inherits again")
    reason: str = Field("", max_length=500)


def _out(site_id: str | None, periods: list[retention_admin.Period]) -> RetentionOut:
    return RetentionOut(
        site_id=site_id, periods=[PeriodOut.model_validate(p, from_attributes=True) for p in periods]
    )


@router.get("/retention", response_model=RetentionOut)
def read_retention(
    *, session: SessionDep, settings: SettingsDep, user: Admin, site_id: str | None = None
) -> RetentionOut:
    return _out(site_id, retention_admin.periods(session, settings.retention, site_id))


@router.put("/retention", response_model=RetentionOut)
def change_retention(
    *, body: RetentionIn, session: SessionDep, settings: SettingsDep, clock: ClockDep, user: Admin
) -> RetentionOut:
    periods = retention_admin.update(
        session,
        settings.retention,
        body.site_id,
        body.periods,
        actor=actor_of(user),
        now=clock.now(),
        reason=body.reason,
    )
    return _out(body.site_id, periods)
