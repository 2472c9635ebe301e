"""User administration (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from central.deps import ClockDep, SessionDep, require_roles
from central.models.users import User
from central.schemas import ApiModel, UserPublic
from central.security import ADMIN
from central.services import audit
from central.services import users as users_service
from central.validation import ShortText

router = APIRouter(prefix="/users", tags=["users"])
AdminUser = Annotated[User, Depends(require_roles(ADMIN))]


class UserCreate(ApiModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    role: str = Field(max_length=32)
    site_ids: list[str] = Field(default_factory=list, max_length=1000)
    display_name: ShortText = ""


@router.get("", response_model=list[UserPublic])
def list_users(*, session: SessionDep, _admin: AdminUser) -> list[UserPublic]:
    return [UserPublic.model_validate(u) for u in users_service.list_users(session)]


@router.post("", response_model=UserPublic, status_code=201)
def create_user(*, body: UserCreate, session: SessionDep, clock: ClockDep, admin: AdminUser) -> UserPublic:
    user = users_service.create_user(
        session,
        username=body.username,
        password=body.password,
        role=body.role,
        site_ids=body.site_ids,
        display_name=body.display_name,
        now=clock.now(),
    )
    audit.record(
        session,
        actor=audit.Actor(admin.id, admin.username, admin.role),
        action="create",
        object_type="user",
        object_id=user.id,
        detail={"username": user.username, "role": user.role, "site_ids": user.site_ids},
        now=clock.now(),
    )
    session.commit()
    return UserPublic.model_validate(user)


class UserUpdate(ApiModel):
    role: str | None = Field(None, max_length=32)
    site_ids: list[str] | None = Field(None, max_length=1000)
    active: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=256)
    display_name: ShortText | None = None


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(
    *, user_id: str, body: UserUpdate, session: SessionDep, clock: ClockDep, admin: AdminUser
) -> UserPublic:
    """Change role, sites, state or password; the user's existing tokens stop working."""
    user = users_service.get_user(session, user_id)
    changed = users_service.update_user(
        session,
        user,
        now=clock.now(),
        role=body.role,
        site_ids=body.site_ids,
        active=body.active,
        password=body.password,
        display_name=body.display_name,
    )
    audit.record(
        session,
        actor=audit.Actor(admin.id, admin.username, admin.role),
        action="update",
        object_type="user",
        object_id=user.id,
        detail={"fields": changed},
        now=clock.now(),
    )
    session.commit()
    return UserPublic.model_validate(user)
