"""QR passes read from frames and verified offline; PIN pad."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from edge.passes import PassVerifier, PinPad, QrReader, hash_pin


def _helper(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"edge_tests_{name}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


qr = _helper("qr")
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)


def verifier(signer: Any, max_offline: float = 3600) -> PassVerifier:
    return PassVerifier("site-1", [signer.public_key], max_offline)


def test_pass_in_a_frame_is_read_and_verified() -> None:
    signer = qr.central_signer()
    token = qr.make_pass(signer, now=NOW)
    texts = QrReader().read(qr.qr_frame(token))
    assert texts == [token]
    check = verifier(signer).check(texts[0], now=NOW, ring=1, zone_id="zone-a", offline_for_s=0)
    assert check.ok and check.payload is not None and check.payload.host_household_id == "hh-12-301"


def test_refusals() -> None:
    signer = qr.central_signer()
    token = qr.make_pass(signer, now=NOW)
    v = verifier(signer)
    args = {"ring": 1, "zone_id": "zone-a", "offline_for_s": 0.0}
    assert v.check(token, now=NOW + timedelta(hours=5), **args).reason == "expired"  # type: ignore[arg-type]
    assert v.check(token, now=NOW - timedelta(hours=1), **args).reason == "not_yet_valid"  # type: ignore[arg-type]
    assert v.check(token, now=NOW, ring=1, zone_id="zone-a", offline_for_s=7200).reason == "offline_too_long"
    assert v.check(token, now=NOW, ring=4, zone_id="zone-a", offline_for_s=0).reason == "zone_not_allowed"
    other = qr.central_signer()
    assert "does not verify" in verifier(other).check(token, now=NOW, **args).reason  # type: ignore[arg-type]
    head, body, sig = token.split(".")
    tampered = f"{head}.{body[:-2]}AA.{sig}"
    assert not v.check(tampered, now=NOW, **args).ok  # type: ignore[arg-type]
    assert "not an Anju pass" in v.check("https://example.com", now=NOW, **args).reason  # type: ignore[arg-type]
    elsewhere = qr.make_pass(signer, now=NOW, site_id="site-2")
    assert v.check(elsewhere, now=NOW, **args).reason == "other_site"  # type: ignore[arg-type]
    assert PassVerifier("site-1", [], 60).check(token, now=NOW, **args).reason == "no_site_key"  # type: ignore[arg-type]


def test_pin_pad(tmp_path: Path) -> None:
    codes = tmp_path / "pins.txt"
    codes.write_text(f"# door pins\ndoor-1 {hash_pin('2468')}\n")
    pad = PinPad.from_file(codes)
    for k in "2468":
        assert pad.key("door-1", k, 0.0) is None
    assert pad.key("door-1", "#", 0.0) is True
    assert pad.check("door-2", "2468", 0.0) is False
    for _ in range(5):
        assert pad.check("door-1", "0000", 1.0) is False
    assert pad.check("door-1", "2468", 2.0) is False  # locked out
    assert pad.check("door-1", "2468", 100.0) is True
