"""One simulation run, wired end to end: registry, reconciliation service, transport, days, figures."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from anju.clock import FakeClock
from central.reconciliation.config import ReconciliationConfig
from central.reconciliation.hook import ReconciliationHook
from central.reconciliation.service import ReconciliationService
from central.simulation.faces import FaceBank
from central.simulation.runner import START, DirectTransport, Simulation, Transport
from central.simulation.world import CommunityConfig, build_community, populate_registry

log = logging.getLogger(__name__)


def node_ids(cfg: CommunityConfig) -> list[str]:
    return ["node-gate", *[f"node-b{b + 1}" for b in range(cfg.buildings)]]


def run_community(
    *,
    days: int = 14,
    seed: int = 7,
    lfw_dir: Path,
    data_dir: Path,
    database_url: str | None = None,
    transport: str = "gateway",
    review: bool = True,
    recon_config: ReconciliationConfig | None = None,
    community_config: CommunityConfig | None = None,
) -> dict[str, Any]:
    """Simulate ``days`` days and return the benchmark figures (see :meth:`Simulation.evaluate`)."""
    from central.db import create_all, make_engine, make_session_factory

    started = time.perf_counter()
    cfg = community_config or CommunityConfig(seed=seed, days=days)
    bank = FaceBank(lfw_dir, data_dir / "simulation")
    community = build_community(cfg, bank)
    built = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="anju-sim-") as tmp:
        workdir = Path(tmp)
        url = database_url or f"sqlite:///{workdir / 'central.db'}"
        engine = make_engine(url)
        create_all(engine)
        sessions = make_session_factory(engine)
        clock = FakeClock(START)
        with sessions.begin() as session:
            populate_registry(session, community, clock.now())
        svc = ReconciliationService(recon_config or ReconciliationConfig(), clock)
        hook = ReconciliationHook(sessions, svc)
        chan: Transport
        if transport == "direct":
            chan = DirectTransport(sessions, svc)
        else:
            from central.ingest import Ingestor
            from central.simulation.gateway_path import GatewayTransport

            ingestor = Ingestor(sessions, clock)

            def on_events(events: list[Any]) -> None:
                hook.on_events(events)
                ingestor.on_events(events)

            chan = GatewayTransport(workdir, community.site_id, node_ids(cfg), engine, on_events, clock)
        try:
            sim = Simulation(community, sessions, svc, clock, chan, review_queue=review)
            sim.run(days)
        finally:
            chan.close()
        figures = sim.evaluate()
        engine.dispose()
    figures["run"] = {
        "days": days,
        "seed": seed,
        "transport": transport,
        "people": len(community.people),
        "model_id": community.model_id,
        "faces_s": round(built - started, 1),
        "simulate_s": round(time.perf_counter() - built, 1),
    }
    return figures
