"""Signed QR passes: the payload central signs and gate cameras verify offline.

A pass is printed or shown on a phone as a QR code holding a compact token::

    AJP1.<base64url(payload JSON)>.<base64url(Ed25519 signature)>

The signature covers the exact payload bytes carried in the token (no
re-serialisation on the verifying side), made with the site's Ed25519 key
(``gateway.signing``). This module only defines the payload and the token
layout; it does no cryptography itself so that ``contracts`` stays
dependency-light. Holder names are masked before they go into a pass: the QR
is readable by anyone who photographs it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime, timezone
from enum import Enum
from typing import Literal

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from contracts.messages import Ident, Message

PASS_PREFIX = "AJP1"
MAX_TOKEN_CHARS = 1200  # keeps the QR at a version a gate camera reads at arm's length


class PassKind(str, Enum):
    visitor = "visitor"
    # Residents who opted out of face recognition (or withdrew consent) get a QR credential instead.
    resident = "resident"


class PassFormatError(ValueError):
    """The text is not a well-formed Anju pass token."""


class PassPayload(Message):
    """What a pass grants: who (masked), for which household, where and when.

    On the wire the keys are one or two letters and times are Unix seconds: the token must
    stay small enough for a gate camera's QR decoder (``cv2.QRCodeDetector``) to read.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    v: Literal[1] = 1
    pass_id: str = Field(alias="p", min_length=1, max_length=64)
    site_id: Ident = Field(alias="s")
    kind: PassKind = Field(PassKind.visitor, alias="k")
    holder: str = Field("", alias="h", max_length=32, description="masked holder name, e.g. 张*")
    person_id: str | None = Field(None, alias="pe", max_length=64, description="resident passes: the person")
    host_household_id: str | None = Field(None, alias="hh", max_length=64)
    valid_from: AwareDatetime = Field(alias="f")
    valid_until: AwareDatetime = Field(alias="u")
    rings: list[int] = Field(default_factory=lambda: [1, 2, 3], alias="r", max_length=4)
    zone_ids: list[Ident] = Field(
        default_factory=list, alias="z", max_length=32, description="empty = every zone"
    )

    @field_serializer("valid_from", "valid_until")
    def _unix(self, value: datetime) -> int:
        return int(value.timestamp())

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(timezone.utc)

    @field_validator("rings")
    @classmethod
    def _rings(cls, value: list[int]) -> list[int]:
        if any(r < 1 or r > 4 for r in value):
            raise ValueError("rings must be between 1 and 4")
        return sorted(set(value))

    @model_validator(mode="after")
    def _window(self) -> PassPayload:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self

    def is_valid_at(self, when: datetime) -> bool:
        return self.valid_from <= when < self.valid_until

    def allows(self, *, ring: int | None, zone_id: str | None) -> bool:
        """Whether this pass opens a door in ``zone_id`` on ``ring`` (time not checked)."""
        if ring is not None and ring not in self.rings:
            return False
        return not (self.zone_ids and zone_id is not None and zone_id not in self.zone_ids)


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(text + pad)
    except (binascii.Error, ValueError) as exc:
        raise PassFormatError("pass token is not base64url") from exc


def payload_bytes(payload: PassPayload) -> bytes:
    """The bytes that are signed (compact JSON, no nulls to keep the QR small)."""
    return payload.model_dump_json(exclude_none=True, by_alias=True).encode("utf-8")


def encode_pass(payload: PassPayload, sign: Callable[[bytes], bytes]) -> str:
    """Build the token; ``sign`` returns the Ed25519 signature of its argument."""
    body = payload_bytes(payload)
    token = f"{PASS_PREFIX}.{_b64e(body)}.{_b64e(sign(body))}"
    if len(token) > MAX_TOKEN_CHARS:
        raise PassFormatError(f"pass token is {len(token)} characters, limit {MAX_TOKEN_CHARS}")
    return token


def split_pass(token: str) -> tuple[bytes, bytes]:
    """Return (payload bytes, signature) from a token without verifying anything."""
    token = token.strip()
    if len(token) > MAX_TOKEN_CHARS:
        raise PassFormatError("pass token too long")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PASS_PREFIX:
        raise PassFormatError(f"not an Anju pass (expected {PASS_PREFIX}.<payload>.<signature>)")
    return _b64d(parts[1]), _b64d(parts[2])


def decode_pass(token: str, verify: Callable[[bytes, bytes], bool]) -> PassPayload:
    """Verify and parse a token; ``verify(payload, signature)`` checks the site key.

    Raises :class:`PassFormatError` for a malformed token or a bad signature.
    Validity in time is the caller's check (:meth:`PassPayload.is_valid_at`).
    """
    body, signature = split_pass(token)
    if not verify(body, signature):
        raise PassFormatError("pass signature does not verify with the site key")
    try:
        return PassPayload.model_validate_json(body)
    except ValidationError as exc:
        raise PassFormatError(f"pass payload invalid: {exc.error_count()} problem(s)") from exc
