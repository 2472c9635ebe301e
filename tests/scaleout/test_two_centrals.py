"""Scale-out proof: two central processes share the event stream; one is SIGKILLed mid-stream.

Real parts only: a private Mosquitto, a throwaway PostgreSQL database, two ``anju central
serve`` processes in the shared subscription group, and an edge process publishing through
its durable outbox. Every pass event the edge sent must be stored exactly once in
``gateway_events`` and recorded exactly once in ``event_records`` (in/out counts equal to
what was sent), with nothing double-counted in ``gateway_nodes.events_total``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.soak_stack import (
    CentralProc,
    EdgeProc,
    Ledger,
    MosquittoProc,
    create_pg_database,
    drop_pg_database,
    make_keys,
    mosquitto_binary,
    prepare_database,
    wait_settled,
)

EVENTS = 3000

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = create_pg_database("anju_scaleout_test")
    if url is None:
        pytest.fail("PostgreSQL at 127.0.0.1:5432 is required for the scale-out test")
    yield url
    drop_pg_database(url)


def test_two_centrals_one_killed_mid_stream(tmp_path: Path, pg_url: str) -> None:
    binary = mosquitto_binary()
    assert binary is not None, "mosquitto is required (make setup)"
    keys = make_keys(tmp_path / "keys")
    prepare_database(pg_url, tmp_path / "migrate", keys)
    broker = MosquittoProc(tmp_path / "broker", binary, log_messages=True)
    broker.start()
    centrals = [CentralProc(tmp_path / f"central-{i}", i, pg_url, broker.port, keys) for i in (1, 2)]
    edge = EdgeProc(
        tmp_path / "edge", broker.port, keys, ["--count", str(EVENTS), "--rate", "300", "--passes-only"]
    )
    try:
        for c in centrals:
            c.start()
        time.sleep(3)  # both consumers subscribed to the group before the stream starts
        edge.start()
        # SIGKILL central-1 once about a third of the stream has been sent
        deadline = time.monotonic() + 120
        while len(Ledger.read(edge.ledger).events) < EVENTS // 3:
            assert time.monotonic() < deadline, f"edge too slow: {edge.log_tail()}"
            time.sleep(0.1)
        centrals[0].kill()
        killed_at = len(Ledger.read(edge.ledger).events)
        # both instances took a share of the stream before the kill (consumer ids: anju-central-…)
        before_kill = {c: n for c, n in broker.deliveries_by_client().items() if c.startswith("anju-central")}
        assert len(before_kill) == 2 and all(n > 0 for n in before_kill.values()), before_kill
        edge.wait_drained(300)
        ledger = Ledger.read(edge.ledger)
        assert len(ledger.events) == EVENTS
        check = wait_settled(pg_url, ledger, 120)
        print(f"killed central-1 after {killed_at} events (deliveries then: {before_kill}); {check}")
        assert check.lost == 0, check
        assert check.duplicates == 0, check
        assert check.stored_raw == EVENTS, check
        assert check.records_missing == 0, check
        assert check.passes_in_recorded == check.passes_in_sent, check
        assert check.passes_out_recorded == check.passes_out_sent, check
        assert check.passes_in_sent + check.passes_out_sent == EVENTS
        # the per-node counter central keeps is not double-counted either (heartbeats are not events)
        assert check.node_events_total == EVENTS, check
        assert centrals[1].proc is not None and centrals[1].proc.poll() is None, "survivor crashed"
    finally:
        edge.kill()
        for c in centrals:
            c.stop()
        broker.stop()
