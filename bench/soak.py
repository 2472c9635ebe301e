"""``anju bench soak``: the demo stack at 10× real event rate while its processes are killed.

The stack (:mod:`bench.soak_stack`), each part a real process: a private broker (Mosquitto, or
the embedded Python broker when Mosquitto is not installed), two central instances in the
shared subscription group on a throwaway PostgreSQL database (one instance on SQLite when no
PostgreSQL is reachable), and an edge publisher (:mod:`bench.soak_edge`) sending residents'
passes, door openings, strangers and rare 重点人员 hits through its durable outbox at
``--rate-multiplier`` × a busy gate's real rate.

During the run the broker, one central instance and the edge are each SIGKILLed once (at
25 %, 50 % and 75 % of the time) and restarted after ``--downtime`` seconds. At the end the
edge drains its outbox and the figures are:

- ``lost``: events the edge's ledger holds that central never stored (must be 0);
- ``duplicates``: events stored or recorded more than once (must be 0);
- ``alert_latency_ms``: edge capture → the watchlist alert on central's WebSocket feed
  (``/api/v1/ws/alerts``, one reader per instance, as a console would hold it; alerts raised
  while an instance's feed was down count as ``never_alerted`` there);
- ``alert_latency_db_ms``: edge capture → the alert row visible in the database (polled every
  ``--poll`` seconds, so it includes up to one poll interval);
- ``memory``: RSS of every process, first and last sample of its last incarnation, and the
  growth per hour (least-squares slope after a warm-up), psutil or /proc/<pid>/status.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WARMUP_S = 10.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print only the JSON figures")
    p.add_argument("--minutes", type=float, default=30.0, help="how long events are generated")
    p.add_argument("--rate-multiplier", type=float, default=10.0, help="× a busy gate's real event rate")
    p.add_argument("--downtime", type=float, default=3.0, help="seconds each killed process stays down")
    p.add_argument("--poll", type=float, default=0.25, help="alert/memory polling interval (s)")
    p.add_argument("--work-dir", type=Path, default=None, help="keep logs/ledger here (default: temp)")
    p.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "embedded"],
        default="auto",
        help="Mosquitto when installed (auto) or the embedded Python broker",
    )
    p.add_argument("--sqlite", action="store_true", help="one central on SQLite even if PostgreSQL is up")


@dataclass
class Samples:
    """RSS samples (monotonic seconds, KiB) of one process role; reset at each restart."""

    points: list[tuple[float, int]] = field(default_factory=list)
    peak_kib: int = 0

    def add(self, t: float, kib: int) -> None:
        self.points.append((t, kib))
        self.peak_kib = max(self.peak_kib, kib)

    def summary(self) -> dict[str, Any]:
        if not self.points:
            return {"samples": 0}
        t0 = self.points[0][0]
        warm = [(t, v) for t, v in self.points if t - t0 >= WARMUP_S] or self.points
        slope = _slope(warm)  # KiB/s
        return {
            "samples": len(self.points),
            "rss_first_mib": round(self.points[0][1] / 1024, 1),
            "rss_last_mib": round(self.points[-1][1] / 1024, 1),
            "rss_peak_mib": round(self.peak_kib / 1024, 1),
            "observed_s": round(self.points[-1][0] - t0, 1),
            "growth_mib_per_h": round(slope * 3600 / 1024, 1),
        }


def _slope(points: list[tuple[float, int]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return 0.0 if den == 0 else sum((t - mt) * (v - mv) for t, v in points) / den


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return round(s[k], 1)


class AlertWatcher:
    """Polls central's ``alerts`` table; latency = when first seen − the event's capture time."""

    def __init__(self, database_url: str) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(database_url)
        self.seen: dict[str, datetime] = {}  # event id → when its alert became visible
        self._last_id_count = 0

    def poll(self) -> None:
        now = datetime.now(timezone.utc)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    self.sa.text("SELECT event_ids FROM alerts WHERE type = 'watchlist'")
                ).all()
        except Exception as exc:  # the database is shared with processes being killed; try again
            log.debug("alert poll failed: %s", exc)
            return
        for (ids,) in rows:
            values = json.loads(ids) if isinstance(ids, str) else ids
            for eid in values or []:
                self.seen.setdefault(str(eid), now)

    def close(self) -> None:
        self.engine.dispose()


class WsWatcher:
    """One thread per central instance reading ``/api/v1/ws/alerts`` (the console's live feed),
    reconnecting while the instance is down; records when each event's alert arrived."""

    def __init__(self, http_ports: list[int], username: str, password: str) -> None:
        self.ports = http_ports
        self.username = username
        self.password = password
        self.seen: dict[str, datetime] = {}
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [
            threading.Thread(target=self._follow, args=(p,), name=f"soak-ws-{p}", daemon=True)
            for p in http_ports
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _token(self, port: int) -> str:
        import httpx

        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            json={"username": self.username, "password": self.password},
            timeout=10,
        )
        r.raise_for_status()
        return str(r.json()["access_token"])

    def _follow(self, port: int) -> None:
        from websockets.sync.client import connect

        while not self.stop_flag.is_set():
            try:
                token = self._token(port)
                with connect(f"ws://127.0.0.1:{port}/api/v1/ws/alerts?token={token}", open_timeout=10) as ws:
                    while not self.stop_flag.is_set():
                        try:
                            text = ws.recv(timeout=1.0)
                        except TimeoutError:
                            continue
                        now = datetime.now(timezone.utc)
                        msg = json.loads(text)
                        with self.lock:
                            for eid in msg.get("event_ids") or []:
                                self.seen.setdefault(str(eid), now)
            except Exception as exc:  # the instance was killed or is starting: try again
                log.debug("alert feed on port %d: %s", port, exc)
                self.stop_flag.wait(0.5)

    def stop(self) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join(5)


def _latency_figures(
    seen: dict[str, datetime], hits: dict[str, str], poll_ms: int | None = None
) -> dict[str, Any]:
    out: list[float] = []
    missing = 0
    for eid, iso in hits.items():
        at = seen.get(eid)
        if at is None:
            missing += 1
            continue
        try:
            captured_at = datetime.fromisoformat(iso)
        except ValueError:  # a ledger line cut short by the edge's SIGKILL
            continue
        out.append((at - captured_at).total_seconds() * 1000)
    figures: dict[str, Any] = {
        "count": len(out),
        "never_alerted": missing,
        "p50": _percentile(out, 0.50),
        "p99": _percentile(out, 0.99),
        "max": _percentile(out, 1.0),
    }
    if poll_ms is not None:
        figures["poll_interval_ms"] = poll_ms
    return figures


def run(args: argparse.Namespace) -> int:
    from bench.soak_edge import REAL_RATE
    from bench.soak_stack import (
        SOAK_PASSWORD,
        SOAK_USER,
        CentralProc,
        EdgeProc,
        EmbeddedBrokerProc,
        Ledger,
        MosquittoProc,
        Proc,
        create_pg_database,
        drop_pg_database,
        make_keys,
        mosquitto_binary,
        prepare_database,
        rss_kib,
        wait_settled,
    )

    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per feed login otherwise
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="anju-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    keys = make_keys(work / "keys")
    binary = mosquitto_binary()
    embedded = args.broker == "embedded" or (args.broker == "auto" and binary is None)
    pg_url = None if (args.sqlite or embedded) else create_pg_database()
    database_url = pg_url or f"sqlite:///{(work / 'central.db').resolve()}"
    n_centrals = 2 if pg_url else 1  # SQLite: one writer; embedded broker: no shared subscriptions
    protocol = "3.1.1" if embedded else "5"
    duration = args.minutes * 60.0
    rate = REAL_RATE * args.rate_multiplier

    prepare_database(database_url, work / "migrate", keys)
    broker: Proc
    if embedded:
        broker = EmbeddedBrokerProc(work / "broker")
    else:
        assert binary is not None
        broker = MosquittoProc(work / "broker", binary)
    broker.start()
    port: int = broker.port  # type: ignore[attr-defined]
    centrals = [
        CentralProc(
            work / f"central-{i}",
            i,
            database_url,
            port,
            keys,
            protocol=protocol,
            share_group=None if embedded else "anju-central",
        )
        for i in range(1, n_centrals + 1)
    ]
    watcher = AlertWatcher(database_url)
    feed = WsWatcher([c.http_port for c in centrals], SOAK_USER, SOAK_PASSWORD)
    edge: EdgeProc | None = None
    samples: dict[str, Samples] = {}
    kills: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    try:
        for c in centrals:
            c.start()
        feed.start()
        time.sleep(3)  # consumers subscribed and the alert feeds open before the stream starts
        t0 = time.monotonic()

        def make_edge(remaining: float) -> EdgeProc:
            return EdgeProc(
                work / "edge",
                port,
                keys,
                ["--rate", f"{rate:g}", "--duration", f"{max(1.0, remaining):.1f}"],
                protocol=protocol,
            )

        edge = make_edge(duration)
        edge.start()
        procs: dict[str, Proc] = {"broker": broker, **{c.name: c for c in centrals}, "edge": edge}
        plan = [(0.25, "broker"), (0.50, centrals[0].name), (0.75, "edge")]
        next_sample = 0.0
        while True:
            now = time.monotonic() - t0
            if plan and now >= plan[0][0] * duration:
                _frac, role = plan.pop(0)
                victim = procs[role]
                victim.kill()
                killed_at = time.monotonic() - t0
                time.sleep(args.downtime)
                if role == "edge":
                    edge = make_edge(duration - (time.monotonic() - t0))
                    victim = procs["edge"] = edge
                victim.start()
                samples[role] = Samples()  # memory growth is judged on the last incarnation
                kills.append(
                    {
                        "process": role,
                        "killed_at_s": round(killed_at, 1),
                        "back_after_s": round(time.monotonic() - t0 - killed_at, 1),
                    }
                )
            if now >= next_sample:
                for role, proc in procs.items():
                    pid = proc.pid
                    kib = rss_kib(pid) if pid else None
                    # 0 (or None) is a process that just exited or was killed: not a memory figure.
                    if kib:
                        samples.setdefault(role, Samples()).add(now, kib)
                watcher.poll()
                next_sample = now + max(args.poll, 1.0)
            else:
                watcher.poll()
            assert edge is not None
            if edge.proc is not None and edge.proc.poll() is not None and not plan:
                break  # the edge generated for the full duration and drained its outbox
            if now > duration + 600:
                break
            time.sleep(args.poll)
        generated_s = time.monotonic() - t0
        ledger = Ledger.read(edge.ledger)
        check = wait_settled(database_url, ledger, 120)
        # alerts for the last hits may still be in flight
        hits = {e: c for e, (k, _d, c) in ledger.events.items() if k == "watchlist_hit"}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            watcher.poll()
            if all(e in watcher.seen and e in feed.seen for e in hits):
                break
            time.sleep(args.poll)
        with feed.lock:
            on_feed = dict(feed.seen)
        result = {
            "bench": "soak",
            "minutes": args.minutes,
            "rate_multiplier": args.rate_multiplier,
            "events_per_s": round(len(ledger.events) / max(generated_s, 1e-9), 2),
            "database": "postgresql" if pg_url else "sqlite",
            "broker": "embedded" if embedded else "mosquitto",
            "central_instances": n_centrals,
            "events_sent": check.sent,
            "events_stored": check.stored_raw_distinct,
            "lost": check.lost,
            "duplicates": check.duplicates,
            "records_missing": check.records_missing,
            "passes": {
                "in_sent": check.passes_in_sent,
                "in_recorded": check.passes_in_recorded,
                "out_sent": check.passes_out_sent,
                "out_recorded": check.passes_out_recorded,
            },
            "kills": kills,
            # capture → the alert on central's WebSocket feed (what a guard's console shows)
            "alert_latency_ms": _latency_figures(on_feed, hits),
            # capture → the alert row visible in the database (polled)
            "alert_latency_db_ms": _latency_figures(watcher.seen, hits, round(args.poll * 1000)),
            "memory": {role: s.summary() for role, s in sorted(samples.items())},
            "work_dir": str(work),
        }
    finally:
        feed.stop()
        watcher.close()
        if edge is not None:
            edge.kill()
        for c in centrals:
            c.stop()
        broker.stop()
        if pg_url is not None:
            drop_pg_database(pg_url)
        if args.work_dir is None and result and result["lost"] == 0:
            shutil.rmtree(work, ignore_errors=True)
            result["work_dir"] = None
    if args.json:
        print(json.dumps(result, ensure_ascii=False))  # noqa: T201 - the benchmark's output
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))  # noqa: T201
    return 0 if result.get("lost") == 0 and result.get("duplicates") == 0 else 1


__all__ = ["Samples", "add_arguments", "run"]
