"""Ed25519 signing for events (per node), whitelists, door commands, acks and visitor passes (central).

Keys live in PEM files (PKCS#8 private, SubjectPublicKeyInfo public). A key is
named by its *key id*: the first 16 bytes of the SHA-256 of the raw public key,
in hex, so a registry can find the key an envelope names without trusting
anything else in it.

The signing input binds the signer id and key id to the payload, so a valid
signature cannot be moved to another node's envelope.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ValidationError

from anju.errors import AnjuError
from contracts.link import SignedEnvelope

CENTRAL_SIGNER_ID = "central"


class SigningError(AnjuError):
    """A key file could not be read or written."""


class VerificationError(AnjuError):
    """A signature or envelope did not verify; ``reason`` is a short machine-readable tag."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write a private key PEM readable by its owner only (0600), atomically."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_atomic(path, pem, 0o600)


def save_public_key(key: Ed25519PublicKey, path: Path) -> None:
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_atomic(path, pem, 0o644)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"{path}: cannot read private key: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 private key ({type(key).__name__})")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"{path}: cannot read public key: {exc}") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path}: not an Ed25519 public key ({type(key).__name__})")
    return key


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """Load the key at ``path``; create it (and ``<path>.pub``-style public PEM) on first use."""
    if path.exists():
        return load_private_key(path)
    key = generate_private_key()
    save_private_key(key, path)
    save_public_key(key.public_key(), path.with_suffix(".pub.pem"))
    return key


def _signing_input(signer_id: str, key_id: str, payload: bytes) -> bytes:
    return b"anju/v1\x00" + signer_id.encode() + b"\x00" + key_id.encode() + b"\x00" + payload


class Signer:
    """Signs payloads as ``signer_id`` (a node id, or ``central``)."""

    def __init__(self, signer_id: str, private_key: Ed25519PrivateKey) -> None:
        self.signer_id = signer_id
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id_of(self.public_key)

    @classmethod
    def from_file(cls, signer_id: str, path: Path) -> Signer:
        return cls(signer_id, load_private_key(path))

    def sign(self, payload: bytes) -> bytes:
        """Raw 64-byte signature over ``payload`` bound to this signer and key."""
        return self._key.sign(_signing_input(self.signer_id, self.key_id, payload))

    def envelope(self, payload: str) -> SignedEnvelope:
        sig = base64.b64encode(self.sign(payload.encode("utf-8"))).decode("ascii")
        return SignedEnvelope(signer_id=self.signer_id, key_id=self.key_id, payload=payload, sig=sig)

    def seal(self, message: BaseModel) -> bytes:
        """Serialise ``message`` and wrap it in a signed envelope, as wire bytes."""
        return self.envelope(message.model_dump_json()).model_dump_json().encode("utf-8")


def verify(public_key: Ed25519PublicKey, signer_id: str, payload: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``signer_id``'s signature of ``payload`` with ``public_key``."""
    try:
        public_key.verify(signature, _signing_input(signer_id, key_id_of(public_key), payload))
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class NodeKey:
    """A registered public key and whom it belongs to."""

    site_id: str | None  # None for central's own keys
    signer_id: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)


class KeyRegistry(Protocol):
    """Where a verifier finds public keys (central: the nodes' keys; edge: central's keys)."""

    def lookup(self, key_id: str) -> NodeKey | None: ...


class StaticKeyRegistry:
    """An in-memory registry; central may wrap its database behind the same ``lookup``."""

    def __init__(self, keys: Iterable[NodeKey] = ()) -> None:
        self._keys: dict[str, NodeKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: NodeKey) -> None:
        self._keys[key.key_id] = key

    def revoke(self, key_id: str) -> None:
        self._keys.pop(key_id, None)

    def lookup(self, key_id: str) -> NodeKey | None:
        return self._keys.get(key_id)

    @classmethod
    def from_directory(cls, directory: Path, site_id: str) -> StaticKeyRegistry:
        """Load every ``<node>.sign.pub.pem`` in ``directory`` (the layout broker-config writes)."""
        registry = cls()
        for path in sorted(directory.glob("*.sign.pub.pem")):
            node_id = path.name[: -len(".sign.pub.pem")]
            if node_id == CENTRAL_SIGNER_ID:
                continue
            registry.add(NodeKey(site_id=site_id, signer_id=node_id, public_key=load_public_key(path)))
        return registry


def open_envelope(raw: bytes | str, registry: KeyRegistry) -> tuple[SignedEnvelope, NodeKey]:
    """Parse and verify wire bytes; return the envelope and the key that signed it.

    Raises :class:`VerificationError` with reason ``malformed``, ``unknown_key``,
    ``signer_mismatch`` or ``bad_signature``.
    """
    try:
        env = SignedEnvelope.model_validate_json(raw)
    except ValidationError as exc:
        raise VerificationError("malformed", f"not a signed envelope: {_first_error(exc)}") from exc
    key = registry.lookup(env.key_id)
    if key is None:
        raise VerificationError("unknown_key", f"key {env.key_id} is not registered")
    if key.signer_id != env.signer_id:
        raise VerificationError(
            "signer_mismatch", f"key {env.key_id} belongs to {key.signer_id}, not {env.signer_id}"
        )
    try:
        sig = base64.b64decode(env.sig, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError("bad_signature", "signature is not base64") from exc
    if not verify(key.public_key, env.signer_id, env.payload.encode("utf-8"), sig):
        raise VerificationError("bad_signature", f"signature by {env.signer_id} does not verify")
    return env, key


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(root)"
    return f"{loc}: {first['msg']}"
