"""Alternative credentials at the gate: signed QR passes read from camera frames, and a PIN pad.

Face must never be the only way in, so the same gate camera looks for QR
codes (``cv2.QRCodeDetector``) holding an ``AJP1`` token signed by central
(``contracts.passes``). The check is offline: Ed25519 signature with the
central key the node already trusts, the pass's validity window at the node's
clock, its rings/zones against the camera, and how long the node has been
without confirmation from central (``max_offline_validity_s``). A pass shown
for several frames is used once per door opening (de-duplicated by pass id).

PIN pad: codes are stored as salted SHA-256 hashes (``door_id salt$hexdigest``
per line); the driver feeds digits and checks them against the door's codes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contracts.passes import PassFormatError, PassPayload, decode_pass
from gateway.signing import CENTRAL_SIGNER_ID, verify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassCheck:
    """Result of checking one scanned token."""

    ok: bool
    reason: str
    payload: PassPayload | None = None


class QrReader:
    """Finds QR codes in a BGR frame (one per camera worker: the detector is not thread-safe).

    OpenCV's ArUco-based QR detector is used: it read every one of our pass tokens in
    testing where the classic ``QRCodeDetector`` missed about one in eight, and it is
    several times faster (this runs on the gate camera's frames).
    """

    def __init__(self) -> None:
        self._detector = cv2.QRCodeDetectorAruco()

    def read(self, image: np.ndarray) -> list[str]:
        try:
            ok, texts, _points, _ = self._detector.detectAndDecodeMulti(image)
        except cv2.error as exc:
            log.debug("QR detection failed: %s", exc)
            return []
        return [t for t in texts if t] if ok else []


class PassVerifier:
    """Verifies pass tokens against central's public key(s) and the node's local rules."""

    def __init__(
        self, site_id: str, public_keys: Sequence[Ed25519PublicKey], max_offline_validity_s: float
    ) -> None:
        self.site_id = site_id
        self.public_keys = list(public_keys)
        self.max_offline_validity_s = max_offline_validity_s

    def _verify(self, body: bytes, signature: bytes) -> bool:
        return any(verify(key, CENTRAL_SIGNER_ID, body, signature) for key in self.public_keys)

    def check(
        self, token: str, *, now: datetime, ring: int, zone_id: str | None, offline_for_s: float
    ) -> PassCheck:
        if not self.public_keys:
            return PassCheck(False, "no_site_key")
        try:
            payload = decode_pass(token, self._verify)
        except PassFormatError as exc:
            return PassCheck(False, f"invalid: {exc}")
        if payload.site_id != self.site_id:
            return PassCheck(False, "other_site", payload)
        if not payload.is_valid_at(now):
            return PassCheck(False, "not_yet_valid" if now < payload.valid_from else "expired", payload)
        if not payload.allows(ring=ring, zone_id=zone_id):
            return PassCheck(False, "zone_not_allowed", payload)
        if offline_for_s > self.max_offline_validity_s:
            # A revoked pass cannot reach a node that has been cut off this long: stop trusting passes.
            return PassCheck(False, "offline_too_long", payload)
        return PassCheck(True, "valid", payload)


def hash_pin(pin: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}:{pin}".encode()).hexdigest()
    return f"{salt}${digest}"


class PinPad:
    """Checks PINs entered at a door's keypad against salted hashes loaded from a file."""

    def __init__(
        self, codes: dict[str, list[str]], *, max_failures: int = 5, lockout_s: float = 60.0
    ) -> None:
        self._codes = codes
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._failures: dict[str, list[float]] = {}
        self._buffers: dict[str, str] = {}

    @classmethod
    def from_file(cls, path: Path) -> PinPad:
        codes: dict[str, list[str]] = {}
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2 or "$" not in parts[1]:
                raise ValueError(f"{path}:{lineno}: expected 'door_id salt$sha256hex'")
            codes.setdefault(parts[0], []).append(parts[1])
        return cls(codes)

    def check(self, door_id: str, pin: str, now: float) -> bool:
        fails = [t for t in self._failures.get(door_id, []) if now - t < self.lockout_s]
        self._failures[door_id] = fails
        if len(fails) >= self.max_failures:
            log.warning("PIN pad %s locked out after %d failures", door_id, len(fails))
            return False
        for stored in self._codes.get(door_id, []):
            salt, _digest = stored.split("$", 1)
            if hmac.compare_digest(hash_pin(pin, salt), stored):
                return True
        fails.append(now)
        return False

    def key(self, door_id: str, key: str, now: float) -> bool | None:
        """Feed one keypress (digits, '#' = enter, '*' = clear); returns the check result on '#'."""
        buf = self._buffers.get(door_id, "")
        if key == "*":
            self._buffers[door_id] = ""
            return None
        if key == "#":
            self._buffers[door_id] = ""
            return self.check(door_id, buf, now)
        if key.isdigit() and len(buf) < 12:
            self._buffers[door_id] = buf + key
        return None
