"""Backup and restore scripts, run for real: SQLite and PostgreSQL central databases, an edge's state."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psycopg
import pytest

from anju.clock import FakeClock
from contracts.messages import HeartbeatEvent
from gateway.outbox import Outbox
from recognition.index import WhitelistIndex

ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "deploy" / "backup"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def sh(
    *args: str | Path, ok: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "ANJU_DATABASE_URL"}
    full_env.update(env or {})
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=full_env, timeout=300)
    if ok:
        assert proc.returncode == 0, f"{args[0]} failed: {proc.stderr}"
    return proc


def _rows(db: Path) -> list[tuple[int, str]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT id, name FROM person ORDER BY id").fetchall()
    finally:
        con.close()


def test_sqlite_backup_while_writer_is_open_and_restore(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "photos").mkdir()
    (data / "photos" / "p1.jpg").write_bytes(b"\xff\xd8 photo")
    db = data / "anju.db"
    live = sqlite3.connect(db, isolation_level=None)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT)")
    live.executemany("INSERT INTO person(name) VALUES (?)", [(f"居民{i}",) for i in range(500)])
    # committed rows still only in the WAL (the writer stays open): the backup must include them
    assert (data / "anju.db-wal").stat().st_size > 0
    out = tmp_path / "backups"
    manifest = Path(sh(BACKUP / "central-backup.sh", "--out", out, "--data-dir", data).stdout.strip())
    assert manifest.is_file() and manifest.suffix == ".sha256"
    names = sorted(p.name for p in out.iterdir())
    assert any(n.endswith(".sqlite") for n in names) and any(n.startswith("central-data-") for n in names)

    before = _rows(db)
    live.execute("DELETE FROM person WHERE id > 10")
    live.execute("INSERT INTO person(name) VALUES ('after backup')")
    live.close()
    (data / "photos" / "p1.jpg").unlink()
    assert len(_rows(db)) == 11

    refused = sh(BACKUP / "central-restore.sh", "--manifest", manifest, "--data-dir", data, ok=False)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    sh(BACKUP / "central-restore.sh", "--manifest", manifest, "--data-dir", data, "--yes")
    assert _rows(db) == before and len(before) == 500
    assert (data / "photos" / "p1.jpg").read_bytes() == b"\xff\xd8 photo"


def test_restore_refuses_a_damaged_backup(tmp_path: Path) -> None:
    db = tmp_path / "anju.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO person(name) VALUES ('a')")
    con.commit()
    con.close()
    url = f"sqlite:///{db}"
    manifest = Path(sh(BACKUP / "central-backup.sh", "--out", tmp_path / "b", "--url", url).stdout.strip())
    copy = next((tmp_path / "b").glob("*.sqlite"))
    copy.write_bytes(copy.read_bytes()[:-10] + b"0123456789")
    original = db.read_bytes()
    res = sh(BACKUP / "central-restore.sh", "--manifest", manifest, "--url", url, "--yes", ok=False)
    assert res.returncode != 0 and "damaged" in res.stderr
    assert db.read_bytes() == original


@pytest.fixture
def throwaway_pg() -> Iterator[str]:
    name = f"anju_bk_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgresql_backup_and_restore(tmp_path: Path, throwaway_pg: str) -> None:
    libpq = throwaway_pg.replace("+psycopg", "")
    with psycopg.connect(libpq, autocommit=True) as con:
        con.execute("CREATE TABLE person (id serial PRIMARY KEY, name text NOT NULL)")
        con.execute("CREATE TABLE event (id bigserial PRIMARY KEY, person_id int REFERENCES person(id))")
        con.execute("INSERT INTO person(name) SELECT '居民' || g FROM generate_series(1, 300) g")
        con.execute("INSERT INTO event(person_id) SELECT (g % 300) + 1 FROM generate_series(1, 1000) g")
    manifest = Path(
        sh(
            BACKUP / "central-backup.sh", "--out", tmp_path, env={"ANJU_DATABASE_URL": throwaway_pg}
        ).stdout.strip()
    )
    assert next(tmp_path.glob("*.pgdump")).stat().st_size > 0
    with psycopg.connect(libpq, autocommit=True) as con:
        con.execute("DELETE FROM event")
        con.execute("DELETE FROM person WHERE id > 5")
        con.execute("CREATE TABLE stray (x int)")
    sh(BACKUP / "central-restore.sh", "--manifest", manifest, "--url", throwaway_pg, "--yes")
    with psycopg.connect(libpq) as con:
        assert con.execute("SELECT count(*) FROM person").fetchone() == (300,)
        assert con.execute("SELECT count(*) FROM event").fetchone() == (1000,)
        assert con.execute("SELECT name FROM person WHERE id = 42").fetchone() == ("居民42",)


def _heartbeat(seq: int) -> HeartbeatEvent:
    return HeartbeatEvent(
        event_id=uuid.uuid4(),
        site_id="demo",
        node_id="gate-1",
        seq=seq,
        captured_at=datetime.now(timezone.utc),
    )


def test_edge_backup_and_restore(tmp_path: Path) -> None:
    data = tmp_path / "edge"
    outbox = Outbox(data / "outbox.sqlite", 1 << 20, FakeClock())
    outbox.put_many([_heartbeat(i) for i in range(1, 41)])
    rng = np.random.default_rng(0)
    idx = WhitelistIndex("m", 128, 0.4)
    idx.apply_snapshot({f"p{i}": rng.standard_normal((2, 128), dtype=np.float32) for i in range(50)}, 5)
    idx.save(data / "whitelist.idx")
    (data / "whitelist.bin").write_bytes(os.urandom(4096))
    cached = (data / "whitelist.bin").read_bytes()

    # backup while the outbox is open (its WAL holds the events)
    archive = Path(sh(BACKUP / "edge-backup.sh", "--data-dir", data, "--out", tmp_path / "bk").stdout.strip())
    assert archive.name.startswith("edge-") and archive.name.endswith(".tar.gz")

    outbox.remove_seqs([(1, 40)])
    assert outbox.depth() == 0
    outbox.close()
    (data / "whitelist.idx").write_bytes(b"garbage")
    (data / "whitelist.bin").unlink()

    sh(BACKUP / "edge-restore.sh", "--archive", archive, "--data-dir", data, "--yes")
    back = Outbox(data / "outbox.sqlite", 1 << 20, FakeClock())
    try:
        assert back.depth() == 40
        assert [item.seq for item in back.peek(limit=100)] == list(range(1, 41))
    finally:
        back.close()
    loaded = WhitelistIndex.load(data / "whitelist.idx", model_id="m")
    assert loaded.version == 5 and len(loaded) == 50
    assert (data / "whitelist.bin").read_bytes() == cached

    # a tampered archive is refused and changes nothing
    bad = tmp_path / "bad.tar.gz"
    stage = tmp_path / "stage"
    stage.mkdir()
    sh("tar", "-C", stage, "-xzf", archive)
    (stage / "whitelist.bin").write_bytes(b"tampered")
    sh("tar", "-C", stage, "-czf", bad, ".")
    res = sh(BACKUP / "edge-restore.sh", "--archive", bad, "--data-dir", data, "--yes", ok=False)
    assert res.returncode != 0 and "checksums" in res.stderr
    assert (data / "whitelist.bin").read_bytes() == cached
