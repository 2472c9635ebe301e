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


def update_user(
    session: Session,
    user: User,
    *,
    now: datetime,
    role: str | None = None,
    site_ids: Sequence[str] | None = None,
    active: bool | None = None,
    password: str | None = None,
    display_name: str | None = None,
) -> list[str]:
    """Change a user (not committed); any change of role, sites, state or password revokes tokens."""
    errors: list[FieldError] = []
    if role is not None and role not in ROLES:
        errors.append(FieldError("role", f"one of {', '.join(ROLES)}"))
    if password is not None and len(password) < MIN_PASSWORD:
        errors.append(FieldError("password", f"at least {MIN_PASSWORD} characters"))
    for i, sid in enumerate(site_ids or []):
        if session.get(Site, sid) is None:
            errors.append(FieldError(f"site_ids.{i}", f"no site {sid!r}"))
    new_role = role or user.role
    if new_role != ADMIN and site_ids is not None and not site_ids:
        errors.append(FieldError("site_ids", "non-admin users need at least one site"))
    if errors:
        raise ValidationFailed("用户信息有误", "invalid user", errors)
    changed = []
    if role is not None and role != user.role:
        user.role = role
        changed.append("role")
    if site_ids is not None and sorted(set(site_ids)) != user.site_ids:
        user.sites = [UserSite(site_id=s) for s in dict.fromkeys(site_ids)]
        changed.append("site_ids")
    if active is not None and active != user.active:
        user.active = active
        changed.append("active")
    if password is not None:
        user.password_hash = hash_password(password)
        changed.append("password")
    if display_name is not None and display_name != user.display_name:
        user.display_name = display_name[:128]
        changed.append("display_name")
    if set(changed) - {"display_name"}:
        user.token_version += 1
    if changed:
        user.updated_at = now
    return changed


def change_own_password(session: Session, user: User, old: str, new: str, now: datetime) -> None:
    if not verify_password(old, user.password_hash):
        raise ValidationFailed(
            "原密码错误", "current password is wrong", [FieldError("old_password", "wrong")]
        )
    update_user(session, user, now=now, password=new)
    session.commit()
