"""``anju bench soak`` for about a minute: broker, one central and the edge each SIGKILLed and
restarted once; nothing lost, nothing duplicated, every figure reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_soak_one_minute_loses_nothing(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "anju.cli",
            "bench",
            "soak",
            "--json",
            "--minutes",
            "1",
            "--work-dir",
            str(tmp_path / "soak"),
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=850,
    )
    assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-3000:])
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    for key in (
        "events_sent",
        "lost",
        "duplicates",
        "records_missing",
        "kills",
        "alert_latency_ms",
        "memory",
        "central_instances",
    ):
        assert key in figures, key
    assert figures["events_sent"] > 100
    assert figures["lost"] == 0
    assert figures["duplicates"] == 0
    assert figures["records_missing"] == 0
    assert figures["passes"]["in_recorded"] == figures["passes"]["in_sent"]
    assert figures["passes"]["out_recorded"] == figures["passes"]["out_sent"]
    assert {k["process"] for k in figures["kills"]} == {"broker", "central-1", "edge"}
    # every 重点人员 hit raised an alert (database); the console feed carried them
    assert figures["alert_latency_db_ms"]["count"] > 0
    assert figures["alert_latency_db_ms"]["never_alerted"] == 0
    assert figures["alert_latency_ms"]["count"] > 0
    assert figures["alert_latency_ms"]["p99"] is not None
    roles = set(figures["memory"])
    assert {"broker", "edge", "central-1"} <= roles
    for summary in figures["memory"].values():
        assert summary["samples"] > 0 and summary["rss_last_mib"] > 0
