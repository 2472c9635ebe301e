"""Template cache encryption and snapshot policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anju.clock import FakeClock
from edge.config import PrivacyConfig
from edge.privacy import SnapshotPolicy, TemplateStore, TemplateStoreError, load_site_key, write_site_key


def test_sealed_templates_roundtrip_and_refuse_wrong_key(tmp_path: Path) -> None:
    key = write_site_key(tmp_path / "site.key")
    assert load_site_key(tmp_path / "site.key") == key
    store = TemplateStore(tmp_path / "wl.bin", key, "site-1")
    secret = b'{"persons": "biometric vectors 0.1234"}'
    store.save(secret)
    raw = (tmp_path / "wl.bin").read_bytes()
    assert b"biometric" not in raw and raw.startswith(b"AJT1")
    assert store.load() == secret
    with pytest.raises(TemplateStoreError, match="wrong site key"):
        TemplateStore(tmp_path / "wl.bin", bytes(32), "site-1").load()
    with pytest.raises(TemplateStoreError, match="no site key"):
        TemplateStore(tmp_path / "wl.bin", None, "site-1").load()
    with pytest.raises(TemplateStoreError, match="wrong site key"):  # bound to the site
        TemplateStore(tmp_path / "wl.bin", key, "site-2").load()
    (tmp_path / "bad.key").write_text("short")
    with pytest.raises(TemplateStoreError, match="32 raw bytes"):
        load_site_key(tmp_path / "bad.key")
    plain = TemplateStore(tmp_path / "plain.bin", None, "site-1")
    assert plain.load() is None
    plain.save(secret)
    assert plain.load() == secret


def test_snapshots_only_for_named_kinds_and_expire(tmp_path: Path) -> None:
    clock = FakeClock()
    cfg = PrivacyConfig(
        snapshot_kinds=["tailgating"], snapshot_dir=tmp_path / "snaps", snapshot_retention_s=60
    )
    pol = SnapshotPolicy(cfg, clock)
    image = np.random.default_rng(1).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    assert pol.make("stranger", image, "x") is None
    snap = pol.make("tailgating", image, "door-1")
    assert snap is not None and snap.jpeg().startswith(b"\xff\xd8")
    assert len(list((tmp_path / "snaps").glob("*.jpg"))) == 1
    clock.set(clock.now().fromtimestamp(clock.now().timestamp() + 3600 * 24 * 365 * 10, clock.now().tzinfo))
    assert pol.purge() == 1
    assert list((tmp_path / "snaps").glob("*.jpg")) == []
