"""FastAPI dependencies shared by every router.

* ``SessionDep`` — a SQLAlchemy Session for the request (closed afterwards, rolled back on error;
  services commit their own writes).
* ``CurrentUser`` — the authenticated, active :class:`~central.models.users.User`
  (``Authorization: Bearer …`` or, for WebSockets, ``?token=``).
* ``require_roles(*roles)`` — a dependency returning the user if their role is allowed
  (``admin`` is always allowed), else 403.
* ``ensure_site_access(user, site_id)`` — the object-level check: call it on the site of every
  object a route reads or changes.
* ``ClockDep``, ``SettingsDep``, ``ReasonDep`` (the ``X-Anju-Reason`` header for the audit log).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Request, UploadFile, WebSocket
from sqlalchemy.orm import Session, sessionmaker

from anju.clock import Clock
from central.errors import AuthenticationFailed, PermissionDenied
from central.models.users import User
from central.security import ADMIN, decode_token
from central.services.audit import Actor
from central.settings import CentralSettings


def _state_session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def get_session(request: Request) -> Iterator[Session]:
    session = _state_session_factory(request)()
    try:
        yield session
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_settings(request: Request) -> CentralSettings:
    settings: CentralSettings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[CentralSettings, Depends(get_settings)]


def user_from_token(session: Session, settings: CentralSettings, clock: Clock, token: str) -> User:
    """The active user a token belongs to, else :class:`AuthenticationFailed`."""
    claims = decode_token(settings.secret_key, token, clock.now())
    user = session.get(User, claims.user_id)
    if user is None or not user.active or user.token_version != claims.version:
        raise AuthenticationFailed("登录凭证已失效", "token no longer valid")
    return user


def get_current_user(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    authorization: Annotated[str | None, Header()] = None,
) -> User:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AuthenticationFailed("请先登录", "missing bearer token")
    return user_from_token(session, settings, clock, authorization[7:].strip())


CurrentUser = Annotated[User, Depends(get_current_user)]


def websocket_user(websocket: WebSocket, token: str) -> User:
    """Authenticate a WebSocket from its ``?token=`` (call before ``accept``); the caller closes on error."""
    app = websocket.app
    with app.state.session_factory() as session:
        user = user_from_token(session, app.state.settings, app.state.clock, token)
        session.expunge(user)
        return user


def require_roles(*roles: str) -> Callable[[User], User]:
    """Dependency factory: ``user: Annotated[User, Depends(require_roles(GUARD, POLICE))]``."""
    allowed = frozenset(roles) | {ADMIN}

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise PermissionDenied("无权执行此操作", f"role {user.role!r} may not do this")
        return user

    return check


def can_access_site(user: User, site_id: str | None) -> bool:
    return user.role == ADMIN or (site_id is not None and site_id in user.site_ids)


def ensure_site_access(user: User, site_id: str | None) -> None:
    """Raise :class:`PermissionDenied` unless ``user`` may act on ``site_id`` (admin: every site)."""
    if not can_access_site(user, site_id):
        raise PermissionDenied("无权访问该小区的数据", "no access to this site")


def actor_of(user: User) -> Actor:
    """The audit-log actor for a user."""
    return Actor(user.id, user.username, user.role)


def get_reason(x_anju_reason: Annotated[str | None, Header()] = None) -> str:
    """Why the caller looks at personal data (``X-Anju-Reason`` header, URL-encoded UTF-8 allowed)."""
    from urllib.parse import unquote

    return unquote(x_anju_reason or "")[:500]


ReasonDep = Annotated[str, Depends(get_reason)]


def visible_site_ids(user: User) -> list[str] | None:
    """Sites a list query must be limited to; None for admin (every site)."""
    return None if user.role == ADMIN else user.site_ids


async def read_upload(upload: UploadFile, limit: int, field: str = "file") -> bytes:
    """Read an uploaded file, refusing (413, naming ``field``) more than ``limit`` bytes."""
    from central.errors import FieldError, PayloadTooLarge

    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await upload.read(1024 * 1024)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                "上传文件过大", f"upload over {limit} bytes", [FieldError(field, f"max {limit} bytes")]
            )
        chunks.append(chunk)
    return b"".join(chunks)
