"""Real processes for the scale-out test and ``anju bench soak``: broker, central instances, edge.

Each part is its own OS process so it can be SIGKILLed and started again:

- :class:`MosquittoProc` — a private Mosquitto on an ephemeral loopback port (persistent);
- :class:`CentralProc` — ``python -m anju.cli central serve`` with ``ANJU_*`` settings, joined to
  the broker's shared subscription group through central's own :class:`central.ingest.GatewayLink`;
- :class:`EdgeProc` — ``python -m bench.soak_edge`` publishing through a durable outbox.

:func:`prepare_site` generates the keys and seeds the database (schema, the site, a watchlist
alert rule); :func:`check_delivery` compares the edge's ledger with central's tables.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from anju.errors import AnjuError

log = logging.getLogger(__name__)

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SITE_ID = "soak-site"
# The soak's console user (throwaway database only): reads the live alert feed.
SOAK_USER = "soak-admin"
SOAK_PASSWORD = "soak-password-not-for-production"
NODE_ID = "gate-main"


class StackError(AnjuError):
    """A part of the soak stack did not start or did not deliver."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what or 'process'} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise StackError(f"{what or 'process'}: nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for cand in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto"):
        if Path(cand).exists():
            return cand
    return None


class Proc:
    """One child process with its log file; ``kill()`` is SIGKILL, ``start()`` starts it again."""

    name = "proc"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self) -> None:
        """Block until the process serves (override)."""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already running"
        self.starts += 1
        logf = (self.workdir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            self.argv(), stdout=logf, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True
        )
        logf.close()
        self.ready()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / f"{self.name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class MosquittoProc(Proc):
    name = "mosquitto"

    def __init__(self, workdir: Path, binary: str, log_messages: bool = False) -> None:
        super().__init__(workdir)
        self.port = free_port()
        data = workdir / "data"
        data.mkdir(exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            "\n".join(
                [
                    f"user {getpass.getuser()}",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {data}/",
                    "autosave_interval 1",
                    "max_inflight_messages 1000",
                    "max_queued_messages 1000000",
                    "max_packet_size 67108864",
                    # every PUBLISH sent, with the receiving client id: who consumed what
                    *(["log_type all", "log_timestamp true"] if log_messages else []),
                    "",
                ]
            )
        )
        self.binary = binary

    def deliveries_by_client(self, topic_part: str = "/events/") -> dict[str, int]:
        """How many PUBLISH packets on ``topic_part`` topics the broker sent to each client
        (needs ``log_messages=True``); redeliveries count again."""
        counts: dict[str, int] = {}
        path = self.workdir / f"{self.name}.log"
        if not path.exists():
            return counts
        for line in path.read_text(errors="replace").splitlines():
            marker = "Sending PUBLISH to "
            at = line.find(marker)
            if at < 0 or topic_part not in line:
                continue
            client = line[at + len(marker) :].split(" ", 1)[0]
            counts[client] = counts.get(client, 0) + 1
        return counts

    def argv(self) -> list[str]:
        return [self.binary, "-c", str(self.conf)]

    def ready(self) -> None:
        wait_port(self.port, 15, self.proc, "mosquitto")


class EmbeddedBrokerProc(Proc):
    """The demo's fallback broker (amqtt, MQTT 3.1.1, no shared subscriptions)."""

    name = "embedded-broker"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.port = free_port()

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "anju.embedded_broker", "--port", str(self.port)]

    def ready(self) -> None:
        wait_port(self.port, 30, self.proc, "embedded broker")


@dataclass(frozen=True)
class SiteKeys:
    central_key: Path
    central_pub: Path
    node_key: Path
    nodes_dir: Path


def make_keys(keys_dir: Path, node_id: str = NODE_ID) -> SiteKeys:
    from gateway.signing import load_or_create_private_key, save_public_key

    (keys_dir / "nodes").mkdir(parents=True, exist_ok=True)
    central = load_or_create_private_key(keys_dir / "central_ed25519.pem")
    save_public_key(central.public_key(), keys_dir / "central.sign.pub.pem")
    node = load_or_create_private_key(keys_dir / f"{node_id}.sign.pem")
    save_public_key(node.public_key(), keys_dir / "nodes" / f"{node_id}.sign.pub.pem")
    return SiteKeys(
        keys_dir / "central_ed25519.pem",
        keys_dir / "central.sign.pub.pem",
        keys_dir / f"{node_id}.sign.pem",
        keys_dir / "nodes",
    )


def create_pg_database(prefix: str = "anju_soak") -> str | None:
    """A throwaway PostgreSQL database on the local server, or None when none is reachable."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:
        log.info("no PostgreSQL at %s (%s)", PG_ADMIN_URL, exc)
        return None
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class CentralProc(Proc):
    """One central instance (HTTP on its own port, MQTT consumer in the shared group)."""

    def __init__(
        self,
        workdir: Path,
        index: int,
        database_url: str,
        broker_port: int,
        keys: SiteKeys,
        *,
        protocol: str = "5",
        share_group: str | None = "anju-central",
    ) -> None:
        super().__init__(workdir)
        self.name = f"central-{index}"
        self.http_port = free_port()
        self.database_url = database_url
        self.broker_port = broker_port
        self.keys = keys
        self.protocol = protocol
        self.share_group = share_group

    def env(self) -> dict[str, str]:
        extra: dict[str, Any] = {
            "node_keys": {SITE_ID: str(self.keys.nodes_dir)},
            "share_group": self.share_group,
            "broker": {"protocol": self.protocol, "reconnect_max_s": 1.0},
        }
        return {
            **os.environ,
            "ANJU_ENVIRONMENT": "development",
            "ANJU_DATA_DIR": str(self.workdir),
            "ANJU_DATABASE_URL": self.database_url,
            "ANJU_SIGNING_KEY_PATH": str(self.keys.central_key),
            "ANJU_MQTT__ENABLED": "true",
            "ANJU_MQTT__PORT": str(self.broker_port),
            "ANJU_MQTT__EXTRA": json.dumps(extra),
        }

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "anju.cli",
            "central",
            "serve",
            "--no-migrate",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.http_port),
        ]

    def ready(self) -> None:
        wait_port(self.http_port, 120, self.proc, self.name)


class EdgeProc(Proc):
    name = "edge"

    def __init__(
        self, workdir: Path, broker_port: int, keys: SiteKeys, extra_args: list[str], protocol: str = "5"
    ) -> None:
        super().__init__(workdir)
        self.broker_port = broker_port
        self.keys = keys
        self.extra_args = extra_args
        self.protocol = protocol
        self.ledger = workdir / "ledger.txt"

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bench.soak_edge",
            "--port",
            str(self.broker_port),
            "--protocol",
            self.protocol,
            "--outbox",
            str(self.workdir / "outbox.db"),
            "--key",
            str(self.keys.node_key),
            "--central-pub",
            str(self.keys.central_pub),
            "--site",
            SITE_ID,
            "--node",
            NODE_ID,
            "--ledger",
            str(self.ledger),
            *self.extra_args,
        ]

    def drained(self) -> bool:
        return "drained" in self.log_tail(3)

    def wait_drained(self, timeout: float) -> None:
        assert self.proc is not None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"edge did not drain its outbox within {timeout:.0f}s") from exc
        if self.proc.returncode != 0:
            raise StackError(f"edge exited with {self.proc.returncode}: {self.log_tail()}")


def prepare_database(database_url: str, env_dir: Path, keys: SiteKeys) -> None:
    """Schema (central's migrations, run once before the instances start), the site and a
    watchlist alert rule (so 重点人员 hits raise alerts whose latency the soak measures)."""
    env = {
        **os.environ,
        "ANJU_DATA_DIR": str(env_dir),
        "ANJU_DATABASE_URL": database_url,
        "ANJU_SIGNING_KEY_PATH": str(keys.central_key),
    }
    out = subprocess.run(
        [sys.executable, "-m", "anju.cli", "central", "migrate"], env=env, capture_output=True, check=False
    )
    if out.returncode != 0:
        raise StackError(f"central migrate failed: {out.stderr.decode(errors='replace')[-2000:]}")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "anju.cli",
            "central",
            "create-user",
            "--username",
            SOAK_USER,
            "--role",
            "admin",
            "--display-name",
            "压测 soak",
            "--password-stdin",
        ],
        input=SOAK_PASSWORD.encode(),
        env=env,
        capture_output=True,
        check=False,
    )
    if out.returncode != 0 and b"exists" not in out.stderr:
        raise StackError(f"central create-user failed: {out.stderr.decode(errors='replace')[-2000:]}")
    from datetime import datetime, timezone

    from sqlalchemy.orm import Session

    from central.models.alerts import AlertRule
    from central.models.registry import Site

    now = datetime.now(timezone.utc)
    engine = sa.create_engine(database_url)
    with Session(engine) as session:
        if session.get(Site, SITE_ID) is None:
            session.add(
                Site(id=SITE_ID, name="压测小区 Soak compound", code=SITE_ID, created_at=now, updated_at=now)
            )
            session.flush()
            session.add(
                AlertRule(
                    site_id=SITE_ID,
                    name="重点人员 watchlist",
                    type="watchlist",
                    severity="high",
                    params={},
                    dedup_s=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.commit()
    engine.dispose()


def _is_uuid(text: str) -> bool:
    try:
        return len(text) == 36 and str(uuid.UUID(text)) == text
    except ValueError:
        return False


@dataclass
class Ledger:
    """What the edge promised to deliver: event id → (kind, direction, captured_at)."""

    events: dict[str, tuple[str, str, str]]

    @classmethod
    def read(cls, path: Path) -> Ledger:
        events: dict[str, tuple[str, str, str]] = {}
        if path.exists():
            # a SIGKILL can cut the last line short: only lines ended by a newline count
            for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
                # the outbox held the event before its line was written, so a whole event id is a
                # promise even when the rest of a cut line is not
                parts = line.split()
                if len(parts) == 4 and _is_uuid(parts[0]):
                    events[parts[0]] = (parts[1], parts[2], parts[3])
        return cls(events)

    def count(self, kind: str, direction: str | None = None) -> int:
        return sum(
            1 for k, d, _ in self.events.values() if k == kind and (direction is None or d == direction)
        )


@dataclass
class DeliveryCheck:
    sent: int
    stored_raw: int
    stored_raw_distinct: int
    lost: int
    duplicates: int
    records: int
    records_missing: int
    passes_in_sent: int
    passes_out_sent: int
    passes_in_recorded: int
    passes_out_recorded: int
    node_events_total: int

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicates == 0
            and self.records_missing == 0
            and self.passes_in_recorded == self.passes_in_sent
            and self.passes_out_recorded == self.passes_out_sent
        )


def check_delivery(database_url: str, ledger: Ledger, node_id: str = NODE_ID) -> DeliveryCheck:
    """Compare the ledger with ``gateway_events`` (raw, exactly once) and ``event_records`` (derived)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            raw = [
                r[0]
                for r in conn.execute(
                    sa.text("SELECT event_id FROM gateway_events WHERE site_id = :s AND node_id = :n"),
                    {"s": SITE_ID, "n": node_id},
                )
            ]
            recs = {
                r[0]: (r[1], r[2])
                for r in conn.execute(
                    sa.text("SELECT event_id, kind, direction FROM event_records WHERE site_id = :s"),
                    {"s": SITE_ID},
                )
            }
            rec_rows = conn.execute(
                sa.text("SELECT count(*) FROM event_records WHERE site_id = :s"), {"s": SITE_ID}
            ).scalar_one()
            total = conn.execute(
                sa.text("SELECT events_total FROM gateway_nodes WHERE site_id = :s AND node_id = :n"),
                {"s": SITE_ID, "n": node_id},
            ).scalar()
    finally:
        engine.dispose()
    raw_set = set(raw)
    sent = set(ledger.events)
    # heartbeats are not in the ledger; only ledger events count for loss
    return DeliveryCheck(
        sent=len(sent),
        stored_raw=len(raw),
        stored_raw_distinct=len(raw_set),
        lost=len(sent - raw_set),
        duplicates=(len(raw) - len(raw_set)) + (int(rec_rows) - len(recs)),
        records=len(recs),
        records_missing=len([e for e in sent if e not in recs]),
        passes_in_sent=ledger.count("pass", "in"),
        passes_out_sent=ledger.count("pass", "out"),
        passes_in_recorded=sum(1 for k, d in recs.values() if k == "pass" and d == "in"),
        passes_out_recorded=sum(1 for k, d in recs.values() if k == "pass" and d == "out"),
        node_events_total=int(total or 0),
    )


def wait_settled(database_url: str, ledger: Ledger, timeout: float) -> DeliveryCheck:
    """Poll until every ledger event has its record (or the timeout passes); the last check."""
    deadline = time.monotonic() + timeout
    check = check_delivery(database_url, ledger)
    while not check.ok and time.monotonic() < deadline:
        time.sleep(1.0)
        check = check_delivery(database_url, ledger)
    return check


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB (psutil when installed, else /proc)."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        return int(psutil.Process(pid).memory_info().rss // 1024)
    except ImportError:
        pass
    except Exception:
        return None
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None
