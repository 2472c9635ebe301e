"""App wiring: stored gateway events reach reconciliation next to the ops ingestor; the worker round."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.ingest import ops_runtime
from central.models.events import EventRecord
from central.reconciliation.models import Candidate, GridTask, Sighting
from central.reconciliation.runtime import ReconciliationWorker, app_service
from central.simulation.faces import Identity

_spec = importlib.util.spec_from_file_location("recon_helpers_rt", Path(__file__).with_name("helpers.py"))
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
sys.modules["recon_helpers_rt"] = helpers
_spec.loader.exec_module(helpers)


def test_consumer_events_reach_reconciliation_and_the_worker_round(
    client: TestClient,
    app: FastAPI,
    db: Session,
    make_site: Callable[..., Any],
    clock: FakeClock,
    lfw_faces: dict[str, Identity],
) -> None:
    c = helpers.make_compound(db, make_site(), clock.now())
    ident = lfw_faces[next(iter(lfw_faces))]
    clock.advance(timedelta(hours=15, minutes=30))  # 07:30 in the compound (UTC+8)
    start = clock.now()
    events = [
        helpers.stranger(
            c.site_id, start + timedelta(days=d, hours=h), ident.vectors[(2 * d + i) % 12], direction
        )
        for d in range(6)
        for i, (h, direction) in enumerate(((0, "out"), (12, "in")))
    ]
    # exactly what the gateway consumer calls with newly stored events
    ops_runtime(app).ingestor.on_events(events)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Sighting)) == len(events)
    assert db.scalar(select(func.count()).select_from(EventRecord)) == len(events)
    clock.advance(timedelta(days=6))
    worker = ReconciliationWorker(app.state.session_factory, app_service(app))
    totals = worker.tick()
    assert totals["sites"] >= 1 and totals["opened"] >= 1 and totals["tasks_opened"] == 1
    db.expire_all()
    assert (
        db.scalars(select(Candidate).where(Candidate.kind == "occupant")).one().house_id == c.rental_house_id
    )
    assert db.scalars(select(GridTask)).one().kind == "rental_visit"
