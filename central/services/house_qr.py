"""One QR code per rental house (一屋一码): a signed token naming the site, house and a serial.

Token: ``AJH1.<base64url(JSON payload)>.<base64url(Ed25519 signature)>``; the signature is
central's (``gateway.signing``). Bumping ``House.qr_serial`` revokes printed codes.
"""

from __future__ import annotations

import base64
import binascii
import json

from sqlalchemy.orm import Session

from central.errors import FieldError, NotFound, ValidationFailed
from central.models.registry import House
from gateway.signing import Signer, verify

PREFIX = "AJH1"


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def house_token(signer: Signer, house: House) -> str:
    """The QR text of ``house`` (only rental houses get one)."""
    if house.usage != "rental":
        raise ValidationFailed(
            "仅出租屋生成二维码", "only rental houses have a QR code", [FieldError("usage", "not rental")]
        )
    body = json.dumps(
        {"v": 1, "site_id": house.site_id, "house_id": house.id, "serial": house.qr_serial},
        separators=(",", ":"),
    ).encode("utf-8")
    return f"{PREFIX}.{_b64e(body)}.{_b64e(signer.sign(body))}"


def qr_png(token: str) -> bytes:
    """The token as a PNG QR code. The four-module quiet zone is what the QR standard requires;
    with a narrower border phone and OpenCV scanners miss some codes."""
    from central.services.visitors import pass_png

    return pass_png(token, box_size=8)


def resolve(session: Session, signer: Signer, token: str) -> House:
    """The house a scanned token names; ValidationFailed if forged, malformed or revoked."""
    bad = ValidationFailed("二维码无效", "invalid house QR code", [FieldError("token", "invalid or revoked")])
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX or len(token) > 2000:
        raise bad
    try:
        body, sig = _b64d(parts[1]), _b64d(parts[2])
        if not verify(signer.public_key, signer.signer_id, body, sig):
            raise bad
        data = json.loads(body)
        house_id, serial = str(data["house_id"]), int(data["serial"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise bad from exc
    house = session.get(House, house_id)
    if house is None:
        raise NotFound("房屋不存在", "house not found")
    if house.qr_serial != serial or house.usage != "rental":
        raise bad
    return house
