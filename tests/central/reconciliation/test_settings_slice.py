"""The reconciliation slice of the central settings reaches the app's service."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from anju.clock import FakeClock
from central.app import create_app
from central.reconciliation.runtime import app_service
from central.settings import CentralSettings
from tests.central.conftest import SECRET


def test_reconciliation_config_from_environment(
    monkeypatch: pytest.MonkeyPatch, engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    monkeypatch.setenv("ANJU_RECONCILIATION__GRIDWORK__RENTAL_VISIT_PERIOD_DAYS", "14")
    settings = CentralSettings(environment="test", secret_key=SECRET, data_dir=tmp_path)
    assert settings.reconciliation.gridwork.rental_visit_period_days == 14
    app = create_app(settings, clock=clock, engine=engine)
    assert app_service(app).config.gridwork.rental_visit_period_days == 14
