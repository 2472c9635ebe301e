"""Ed25519 keys, envelopes and verification."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from gateway.signing import (
    NodeKey,
    Signer,
    SigningError,
    StaticKeyRegistry,
    VerificationError,
    generate_private_key,
    load_private_key,
    load_public_key,
    open_envelope,
    save_private_key,
    save_public_key,
    verify,
)


def test_keys_round_trip_through_pem_files(tmp_path: Path) -> None:
    key = generate_private_key()
    save_private_key(key, tmp_path / "k.pem")
    save_public_key(key.public_key(), tmp_path / "k.pub.pem")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    signer = Signer("gate-a", load_private_key(tmp_path / "k.pem"))
    sig = signer.sign(b"hello")
    assert verify(load_public_key(tmp_path / "k.pub.pem"), "gate-a", b"hello", sig)
    assert not verify(load_public_key(tmp_path / "k.pub.pem"), "gate-b", b"hello", sig)
    assert not verify(load_public_key(tmp_path / "k.pub.pem"), "gate-a", b"hellO", sig)


def test_bad_key_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(SigningError, match=r"bad\.pem"):
        load_private_key(tmp_path / "bad.pem")
    with pytest.raises(SigningError, match=r"missing\.pem"):
        load_public_key(tmp_path / "missing.pem")


def test_open_envelope_rejects_alteration_unknown_keys_and_borrowed_signatures() -> None:
    a = Signer("gate-a", generate_private_key())
    b = Signer("gate-b", generate_private_key())
    reg = StaticKeyRegistry(
        [NodeKey("site-1", "gate-a", a.public_key), NodeKey("site-1", "gate-b", b.public_key)]
    )
    raw = a.envelope('{"x": 1}').model_dump_json()
    env, key = open_envelope(raw, reg)
    assert key.signer_id == "gate-a" and env.payload == '{"x": 1}'

    altered = json.loads(raw)
    altered["payload"] = '{"x": 2}'
    with pytest.raises(VerificationError) as exc:
        open_envelope(json.dumps(altered), reg)
    assert exc.value.reason == "bad_signature"

    # gate-b claims gate-a's signature as its own: the signing input binds the signer.
    borrowed = json.loads(raw)
    borrowed["signer_id"] = "gate-b"
    borrowed["key_id"] = b.key_id
    with pytest.raises(VerificationError) as exc:
        open_envelope(json.dumps(borrowed), reg)
    assert exc.value.reason == "bad_signature"

    stranger = Signer("gate-a", generate_private_key())
    with pytest.raises(VerificationError) as exc:
        open_envelope(stranger.envelope("{}").model_dump_json(), reg)
    assert exc.value.reason == "unknown_key"

    with pytest.raises(VerificationError) as exc:
        open_envelope(b"{not json", reg)
    assert exc.value.reason == "malformed"

    reg.revoke(a.key_id)
    with pytest.raises(VerificationError) as exc:
        open_envelope(raw, reg)
    assert exc.value.reason == "unknown_key"
    assert len(base64.b64decode(env.sig)) == 64
