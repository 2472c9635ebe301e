"""The soak's bookkeeping: ledger parsing, memory slope, percentiles, the broker-log split."""

from __future__ import annotations

import uuid
from pathlib import Path

from bench.soak import Samples, _percentile, _slope
from bench.soak_stack import Ledger, MosquittoProc

A, B, C, D = (str(uuid.UUID(int=i)) for i in range(1, 5))


def test_ledger_skips_a_line_cut_short_by_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "ledger.txt"
    path.write_text(
        f"{A} pass in 2026-01-01T00:00:00+00:00\n"
        f"{B} pass out 2026-01-01T00:00:01+00:00\n"
        f"{C} stranger in 2026-01-01T00:00:02+00:00\n"
        "0b8e3c2a-1d4f pass in\n"  # cut short, then the restarted edge added a newline
        f"{D} pass in 2026-01",  # the process died mid-write
        encoding="utf-8",
    )
    ledger = Ledger.read(path)
    assert set(ledger.events) == {A, B, C}
    assert ledger.count("pass") == 2 and ledger.count("pass", "in") == 1


def test_memory_slope_and_warmup() -> None:
    s = Samples()
    for t in range(0, 100):
        s.add(float(t), 1000 if t < 10 else 2000 + t)  # warm-up jump, then +1 KiB/s
    summary = s.summary()
    assert summary["growth_mib_per_h"] == round(3600 / 1024, 1)
    assert summary["rss_peak_mib"] == round((2000 + 99) / 1024, 1)
    assert _slope([(0.0, 5), (1.0, 5)]) == 0.0
    assert Samples().summary() == {"samples": 0}


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert _percentile(values, 0.5) in (50.0, 51.0)
    assert _percentile(values, 0.99) == 99.0
    assert _percentile(values, 1.0) == 100.0
    assert _percentile([], 0.99) is None


def test_broker_log_split_by_client(tmp_path: Path) -> None:
    broker = MosquittoProc(tmp_path, "/usr/sbin/mosquitto", log_messages=True)
    (tmp_path / "mosquitto.log").write_text(
        "1: Sending PUBLISH to anju-central-aa (d0, q1, r0, m1, 'anju/v1/s/n/events/batch', ... (9 bytes))\n"
        "2: Sending PUBLISH to anju-central-bb (d0, q1, r0, m2, 'anju/v1/s/n/events/pass', ... (9 bytes))\n"
        "3: Sending PUBLISH to anju-central-aa (d0, q1, r0, m3, 'anju/v1/s/n/events/pass', ... (9 bytes))\n"
        "4: Sending PUBLISH to anju-s-n (d0, q1, r0, m4, 'anju/v1/s/n/ack', ... (9 bytes))\n",
        encoding="utf-8",
    )
    assert broker.deliveries_by_client() == {"anju-central-aa": 2, "anju-central-bb": 1}
