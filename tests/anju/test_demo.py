"""`anju demo` end to end: broker, central, RTSP camera and edge as real processes.

The demo seeds two residents from the shipped sample photos; the sample clip shows one of them
(Lin-Manuel Miranda) among strangers, so central must record a pass naming him and stranger
events, within one short run. A second run without --fresh reuses the seeded state.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parents[2]


def run_demo(data_dir: Path, summary: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "anju.cli",
            "demo",
            "--data-dir",
            str(data_dir),
            "--port",
            "0",
            "--summary",
            str(summary),
            *extra,
        ],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=400,
    )


@pytest.mark.skipif(
    shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists(),
    reason="the demo needs Mosquitto (scripts/setup.sh installs it)",
)
def test_demo_shows_live_events_and_reuses_state(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    first = run_demo(data, tmp_path / "first.json", "--fresh", "--duration", "45")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "控制台 Console: http://127.0.0.1:" in first.stderr
    events = json.loads((tmp_path / "first.json").read_text(encoding="utf-8"))["events"]
    kinds = {e["kind"] for e in events}
    assert "stranger" in kinds, kinds
    passes = [e for e in events if e["kind"] == "pass"]
    assert passes, kinds
    assert "林曼努尔·米兰达" in first.stderr  # the pass names the enrolled resident
    state = json.loads((data / "demo.json").read_text(encoding="utf-8"))

    second = run_demo(data, tmp_path / "second.json", "--duration", "20")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "reusing the demo state" in second.stderr
    assert json.loads((data / "demo.json").read_text(encoding="utf-8")) == state
    # every child stopped: nothing keeps the demo's ports or files open
    for log in (data / "logs").glob("*.log"):
        assert log.stat().st_size > 0
