"""Roles, password hashing (hashlib.scrypt) and HMAC-signed bearer tokens (stdlib only).

Roles: ``admin`` (global), ``property_manager``, ``guard``, ``police``, ``grid_worker`` — all but
admin are limited to their sites. Token format: ``base64url(payload JSON) "." base64url(HMAC-SHA256)``
with payload ``{"sub": user_id, "ver": token_version, "iat": s, "exp": s}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from central.errors import AuthenticationFailed

ADMIN: Final = "admin"
PROPERTY_MANAGER: Final = "property_manager"
GUARD: Final = "guard"
POLICE: Final = "police"
GRID_WORKER: Final = "grid_worker"
ROLES: Final = (ADMIN, PROPERTY_MANAGER, GUARD, POLICE, GRID_WORKER)

ROLE_NAMES_ZH: Final = {
    ADMIN: "系统管理员",
    PROPERTY_MANAGER: "物业管理员",
    GUARD: "保安",
    POLICE: "社区民警",
    GRID_WORKER: "网格员",
}

# Roles that may see full 居民身份证号 (others get masked numbers).
FULL_ID_ROLES: Final = frozenset({ADMIN, POLICE})

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt_hex$hash_hex``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against :func:`hash_password` output."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(hash_hex) // 2,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    version: int
    issued_at: int
    expires_at: int


def sign(secret: str, purpose: str, payload: bytes) -> str:
    """HMAC-SHA256 of ``payload`` under a key derived from ``secret`` for ``purpose`` (hex)."""
    key = hmac.new(secret.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def issue_token(secret: str, user_id: str, version: int, now: datetime, ttl_s: int) -> str:
    """A bearer token for ``user_id`` valid ``ttl_s`` seconds from ``now``."""
    iat = int(now.timestamp())
    body = json.dumps(
        {"sub": user_id, "ver": version, "iat": iat, "exp": iat + ttl_s}, separators=(",", ":")
    ).encode("utf-8")
    mac = bytes.fromhex(sign(secret, "token", body))
    return f"{_b64e(body)}.{_b64e(mac)}"


def decode_token(secret: str, token: str, now: datetime) -> TokenClaims:
    """Verify signature and expiry; raise :class:`AuthenticationFailed` otherwise."""
    try:
        body_b64, mac_b64 = token.split(".")
        body = _b64d(body_b64)
        mac = _b64d(mac_b64)
    except ValueError as exc:
        raise AuthenticationFailed("登录凭证无效", "malformed token") from exc
    expected = bytes.fromhex(sign(secret, "token", body))
    if not hmac.compare_digest(mac, expected):
        raise AuthenticationFailed("登录凭证无效", "invalid token signature")
    try:
        data = json.loads(body)
        claims = TokenClaims(str(data["sub"]), int(data["ver"]), int(data["iat"]), int(data["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthenticationFailed("登录凭证无效", "malformed token payload") from exc
    if now.timestamp() >= claims.expires_at:
        raise AuthenticationFailed("登录已过期，请重新登录", "token expired")
    return claims
