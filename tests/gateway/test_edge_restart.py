"""An edge publisher process killed mid-stream resumes from its outbox when it starts again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from anju.clock import SystemClock
from gateway.outbox import Outbox
from gateway.signing import save_private_key

SCRIPT = Path(__file__).with_name("edge_proc.py")


def _spawn(port: int, outbox: Path, key: Path, central_pub: Path, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(port), str(outbox), str(key), str(central_pub), str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.slow
def test_killed_publisher_resumes_from_its_outbox(
    broker: Any, keys: Any, tmp_path: Path, sqlite_store: Any, make_consumer: Any
) -> None:
    signer = keys.node("gate-a")
    key = tmp_path / "gate-a.sign.pem"
    save_private_key(signer._key, key)
    outbox_path = tmp_path / "edge-outbox.db"

    # Central is not consuming yet, so nothing is acknowledged: everything put stays in the outbox.
    proc = _spawn(broker.port, outbox_path, key, keys.central_pub, 100_000)
    assert proc.stdout is not None
    reported: list[tuple[int, str]] = []
    for line in proc.stdout:
        _put, seq, event_id = line.split()
        reported.append((int(seq), event_id))
        if len(reported) >= 1000:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()

    box = Outbox(outbox_path, 1 << 28, SystemClock())
    backlog = box.depth()
    box.close()
    assert backlog >= len(reported)  # every event reported as put survived the kill

    _consumer, counted = make_consumer(broker.port, sqlite_store)
    again = _spawn(broker.port, outbox_path, key, keys.central_pub, 0)
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0 and "drained" in out
    assert counted.wait_for(lambda seen: len(seen) >= backlog)

    stored_ids = {str(e.event_id) for e in counted.events}
    assert len(counted.events) == backlog == len(stored_ids)
    assert {eid for _seq, eid in reported} <= stored_ids
    assert sorted(e.seq for e in counted.events) == list(range(backlog))


def test_killed_node_is_reported_offline_by_its_last_will(
    broker: Any, keys: Any, tmp_path: Path, sqlite_store: Any, make_consumer: Any
) -> None:
    import threading

    signer = keys.node("gate-a")
    key = tmp_path / "gate-a.sign.pem"
    save_private_key(signer._key, key)
    consumer, _counted = make_consumer(broker.port, sqlite_store)
    beats: list[Any] = []
    cond = threading.Condition()

    def on_status(beat: Any) -> None:
        with cond:
            beats.append(beat)
            cond.notify_all()

    consumer.on_status = on_status
    proc = _spawn(broker.port, tmp_path / "o.db", key, keys.central_pub, 1_000_000)
    try:
        with cond:
            assert cond.wait_for(lambda: any(b.online for b in beats), 30)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        with cond:
            assert cond.wait_for(lambda: not beats[-1].online, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
    offline = beats[-1]
    assert offline.node_id == "gate-a" and offline.site_id == "site-1"
