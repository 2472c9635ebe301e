"""User accounts: create, authenticate, list; site scope lives in ``user_sites``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.errors import AuthenticationFailed, Conflict, FieldError, NotFound, ValidationFailed
from central.models.registry import Site
from central.models.users import User, UserSite
from central.security import ADMIN, ROLES, hash_password, verify_password

_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MIN_PASSWORD = 8


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    site_ids: Sequence[str],
    now: datetime,
    display_name: str = "",
) -> User:
    """Create and commit a user; non-admin roles need at least one existing site."""
    errors: list[FieldError] = []
    if not _USERNAME.match(username):
        errors.append(FieldError("username", "3-64 letters, digits or _.@-"))
    if role not in ROLES:
        errors.append(FieldError("role", f"one of {', '.join(ROLES)}"))
    if len(password) < MIN_PASSWORD:
        errors.append(FieldError("password", f"at least {MIN_PASSWORD} characters"))
    if len(display_name) > 128:
        errors.append(FieldError("display_name", "at most 128 characters"))
    if role != ADMIN and not site_ids:
        errors.append(FieldError("site_ids", "non-admin users need at least one site"))
    for i, sid in enumerate(site_ids):
        if session.get(Site, sid) is None:
            errors.append(FieldError(f"site_ids.{i}", f"no site {sid!r}"))
    if errors:
        raise ValidationFailed("用户信息有误", "invalid user", errors)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict("用户名已存在", f"username {username!r} exists", [FieldError("username", "taken")])
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=hash_password(password),
        created_at=now,
        updated_at=now,
    )
    user.sites = [UserSite(site_id=s) for s in dict.fromkeys(site_ids)]
    session.add(user)
    session.commit()
    return user


def authenticate(session: Session, username: str, password: str, now: datetime) -> User:
    """The active user with these credentials, else :class:`AuthenticationFailed` (same message)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not verify_password(password, user.password_hash):
        raise AuthenticationFailed("用户名或密码错误", "wrong username or password")
    user.last_login_at = now
    session.commit()
    return user


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("用户不存在", f"no user {user_id!r}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))
