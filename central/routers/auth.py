"""``POST /auth/login`` and ``GET /auth/me``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import Field

from central.deps import ClockDep, CurrentUser, SessionDep, SettingsDep
from central.schemas import ApiModel, UserPublic
from central.security import issue_token
from central.services import users as users_service

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(ApiModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(ApiModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserPublic


@router.post("/login", response_model=LoginResponse)
def login(
    *, body: LoginRequest, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> LoginResponse:
    user = users_service.authenticate(session, body.username, body.password, clock.now())
    token = issue_token(settings.secret_key, user.id, user.token_version, clock.now(), settings.token_ttl_s)
    return LoginResponse(
        access_token=token, expires_in=settings.token_ttl_s, user=UserPublic.model_validate(user)
    )


@router.get("/me", response_model=UserPublic)
def me(*, user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


class PasswordChange(ApiModel):
    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


@router.post("/password", status_code=204)
def change_password(
    *, body: PasswordChange, session: SessionDep, clock: ClockDep, user: CurrentUser
) -> Response:
    """Change one's own password; every token issued before stops working."""
    users_service.change_own_password(session, user, body.old_password, body.new_password, clock.now())
    return Response(status_code=204)
