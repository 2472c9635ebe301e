"""`anju edge run` as a real process: starts, decides, stops cleanly on SIGTERM with events on disk."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_edge_run_process_and_sigterm(tmp_path: Path, h: Any) -> None:
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(
        f"""
site_id: site-1
node_id: gate-1
data_dir: {tmp_path / "data"}
cameras:
  - {{id: cam-1, source: file, url: "{h.CLIP}", loop: true, door_id: door-1}}
doors:
  - {{id: door-1}}
metrics: {{port: 0}}
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "anju.cli", "edge", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    db = tmp_path / "data" / "outbox.sqlite"
    try:
        for _ in range(600):  # the node stores at least its camera-online event and a stranger
            if db.exists():
                try:
                    with sqlite3.connect(db) as conn:
                        if conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] >= 2:
                            break
                except sqlite3.OperationalError:
                    pass  # created, schema not written yet
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "edge node stopped" in out
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] >= 2
