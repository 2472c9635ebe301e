"""Shared fixtures for recognition tests: the real model packs in the model cache.

The default pack is fetched once (npm + the shared mirror) into $ANJU_MODEL_DIR or the
user cache, like `scripts/setup.sh` does; SCRFD comes from ../shared/models (a mirror).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.fetch import fetch_pack
from models.store import default_model_dir

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MIRROR = SHARED / "models"
TESTDATA = SHARED / "testdata"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    d = default_model_dir()
    mirror = MIRROR if MIRROR.is_dir() else None
    fetch_pack("faceplugin", model_dir=d, mirror=mirror)
    if mirror is not None:
        fetch_pack("scrfd_500m", model_dir=d, mirror=mirror, accept_non_commercial=True)
    return d


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.skip("../shared/testdata not present")
    return TESTDATA
