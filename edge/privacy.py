"""Privacy at the edge: snapshots only where policy allows, kept for a limited time, and encrypted templates.

By default nothing biometric leaves or stays on the box: face crops live only
in memory until the decision. A snapshot (a downscaled JPEG of the frame) is
made only for event kinds named in ``privacy.snapshot_kinds``; if a snapshot
directory is configured it is also kept there and deleted after
``snapshot_retention_s``. The cached whitelist (templates are biometric data)
is written with AES-256-GCM under the site key when one is configured.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import cv2
import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from anju.clock import Clock
from anju.errors import AnjuError
from contracts.messages import MAX_SNAPSHOT_BYTES, Snapshot
from edge.config import PrivacyConfig

log = logging.getLogger(__name__)

_PLAIN = b"AJT0"
_SEALED = b"AJT1"


class TemplateStoreError(AnjuError):
    """The template cache or the site key could not be read."""


def load_site_key(path: Path) -> bytes:
    """A 32-byte AES key from ``path``: 32 raw bytes or 64 hex characters."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TemplateStoreError(f"{path}: cannot read site key: {exc}") from exc
    text = raw.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            pass
    if len(raw) == 32:
        return raw
    raise TemplateStoreError(f"{path}: site key must be 32 raw bytes or 64 hex characters")


def write_site_key(path: Path) -> bytes:
    """Create a new random site key file (hex, mode 0600)."""
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


class TemplateStore:
    """The cached whitelist on disk, sealed with AES-GCM when a site key is given."""

    def __init__(self, path: Path, key: bytes | None, site_id: str) -> None:
        if key is not None and len(key) != 32:
            raise TemplateStoreError("site key must be 32 bytes (AES-256)")
        self.path = path
        self._aead = AESGCM(key) if key is not None else None
        self._aad = f"anju-templates:{site_id}".encode()

    @property
    def encrypted(self) -> bool:
        return self._aead is not None

    def save(self, data: bytes) -> None:
        if self._aead is not None:
            nonce = secrets.token_bytes(12)
            blob = _SEALED + nonce + self._aead.encrypt(nonce, data, self._aad)
        else:
            blob = _PLAIN + data
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def load(self) -> bytes | None:
        """The stored bytes, or None when nothing is stored yet."""
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TemplateStoreError(f"{self.path}: cannot read: {exc}") from exc
        magic, body = blob[:4], blob[4:]
        if magic == _PLAIN:
            if self._aead is not None:
                log.warning("%s: template cache is not encrypted; it will be sealed on next save", self.path)
            return body
        if magic == _SEALED:
            if self._aead is None:
                raise TemplateStoreError(
                    f"{self.path}: templates are encrypted but no site key is configured"
                )
            try:
                return self._aead.decrypt(body[:12], body[12:], self._aad)
            except InvalidTag as exc:
                raise TemplateStoreError(f"{self.path}: wrong site key or tampered template cache") from exc
        raise TemplateStoreError(f"{self.path}: not an Anju template cache")


def encode_snapshot(image: np.ndarray, max_px: int, quality: int = 80) -> bytes:
    """Downscale to ``max_px`` on the longest side and JPEG-encode (kept under the wire limit)."""
    h, w = image.shape[:2]
    scale = min(1.0, max_px / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    while True:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        data = bytes(buf.tobytes())
        if len(data) <= MAX_SNAPSHOT_BYTES or quality <= 30:
            return data
        quality -= 15


class SnapshotPolicy:
    """Decides whether an event kind may carry a snapshot, keeps and expires local copies."""

    def __init__(self, cfg: PrivacyConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        if cfg.snapshot_dir is not None:
            cfg.snapshot_dir.mkdir(parents=True, exist_ok=True)

    def allows(self, kind: str) -> bool:
        return kind in self.cfg.snapshot_kinds

    def make(self, kind: str, image: np.ndarray | None, name: str) -> Snapshot | None:
        """A snapshot for an event of ``kind``, or None where policy forbids it."""
        if image is None or not self.allows(kind):
            return None
        data = encode_snapshot(image, self.cfg.snapshot_max_px)
        return self.wrap(kind, data, name)

    def wrap(self, kind: str, jpeg: bytes | None, name: str) -> Snapshot | None:
        if jpeg is None or not self.allows(kind):
            return None
        if self.cfg.snapshot_dir is not None:
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:100]
            (self.cfg.snapshot_dir / f"{kind}-{safe}.jpg").write_bytes(jpeg)
        return Snapshot.from_jpeg(jpeg)

    def purge(self) -> int:
        """Delete kept snapshots older than the retention time; returns how many."""
        if self.cfg.snapshot_dir is None:
            return 0
        cutoff = self.clock.now().timestamp() - self.cfg.snapshot_retention_s
        gone = 0
        for path in self.cfg.snapshot_dir.glob("*.jpg"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    gone += 1
            except FileNotFoundError:
                continue
        if gone:
            log.info("deleted %d expired snapshots", gone)
        return gone
