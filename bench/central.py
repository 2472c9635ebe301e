"""``anju bench central``: event ingest rate, query latency over a year of events, alert delivery latency.

A 5,000-household compound is generated (about 2.5 residents per household,
three rings of cameras) with one year of pass events (each resident going out
and in on most days), strangers and heartbeats, bulk-loaded into the
``event_records`` table. Then, on each database (SQLite file, PostgreSQL):

* ``ingest``: events/s through the real path, :meth:`central.ingest.Ingestor.on_events`
  (records, presence, visits, alert rules), in gateway-sized batches;
* ``queries``: p50/p95 latency of searches a console runs (by person, camera + day,
  zone + kind, strangers of a week, a deep page via the cursor, a trajectory, a plate);
* ``alert_delivery`` (SQLite run only): from calling the ingest hook with a stranger
  event to the alert arriving at a WebSocket client of a real uvicorn server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print only the JSON figures")
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--trips-per-day", type=float, default=0.5, help="round trips (4 records each) per resident per day"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=PG_DEFAULT, help="server URL; a throwaway database is created")
    parser.add_argument("--ingest-events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="events per on_events call")
    parser.add_argument("--query-runs", type=int, default=30)
    parser.add_argument("--alerts", type=int, default=200, help="alerts timed to the WebSocket client")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Compound:
    """The generated compound: site, residents, cameras."""

    def __init__(self, households: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.households = households
        self.site_id = str(uuid.UUID(int=self.rng.getrandbits(128)))
        self.residents = [
            f"res-{h:05d}-{k}" for h in range(households) for k in range(1 + (h % 4 != 0) + (h % 2 == 0))
        ]
        self.buildings = max(1, households // 100)
        # ring 1: 4 gates; ring 2: 8 inner gates; ring 3: one door camera per building unit (2 per building)
        self.cameras: list[tuple[str, str, int]] = [(f"gate-{i}", "zone-gates", 1) for i in range(4)]
        self.cameras += [(f"inner-{i}", f"zone-inner-{i % 4}", 2) for i in range(8)]
        self.cameras += [(f"b{b}-u{u}", f"zone-b{b}", 3) for b in range(self.buildings) for u in range(2)]

    def home_camera(self, resident: str) -> tuple[str, str, int]:
        h = int(resident.split("-")[1])
        b = h % self.buildings
        return (f"b{b}-u{h % 2}", f"zone-b{b}", 3)


def _rows(c: Compound, start: datetime, days: int, trips: float, received: datetime) -> Any:
    """Yield event_records rows (tuples) in time order per day."""
    rng = c.rng
    detail = json.dumps({"credential": "face"})
    for day in range(days):
        base = start + timedelta(days=day)
        for person in c.residents:
            n = int(trips) + (rng.random() < trips - int(trips))
            for _ in range(n):
                out_at = base + timedelta(seconds=rng.randint(6 * 3600, 20 * 3600))
                back = out_at + timedelta(seconds=rng.randint(600, 4 * 3600))
                home = c.home_camera(person)
                gate = c.cameras[rng.randint(0, 3)]
                for at, cam, direction in (
                    (out_at, home, "out"),
                    (out_at + timedelta(seconds=90), gate, "out"),
                    (back, gate, "in"),
                    (back + timedelta(seconds=90), home, "in"),
                ):
                    yield (
                        str(uuid.UUID(int=rng.getrandbits(128))),
                        c.site_id,
                        "node-1",
                        "pass",
                        "info",
                        at,
                        received,
                        cam[0],
                        None,
                        cam[1],
                        cam[2],
                        direction,
                        person,
                        "owner",
                        None,
                        0.6,
                        detail,
                    )
        for _ in range(40):  # strangers per day
            cam = c.cameras[rng.randint(0, 11)]
            at = base + timedelta(seconds=rng.randint(0, 86399))
            yield (
                str(uuid.UUID(int=rng.getrandbits(128))),
                c.site_id,
                "node-1",
                "stranger",
                "info",
                at,
                received,
                cam[0],
                None,
                cam[1],
                cam[2],
                "in",
                None,
                None,
                None,
                0.2,
                "{}",
            )


COLUMNS = (
    "event_id",
    "site_id",
    "node_id",
    "kind",
    "severity",
    "captured_at",
    "received_at",
    "camera_id",
    "door_id",
    "zone_id",
    "ring",
    "direction",
    "person_id",
    "person_kind",
    "plate",
    "score",
    "detail",
)


def _bulk_load(engine: Any, rows: Any) -> int:
    """Fast load: COPY on PostgreSQL, executemany on SQLite (raw DB-API, one transaction per chunk)."""
    n = 0
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cur.copy(f"COPY event_records ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    n += 1
        else:
            # a generated benchmark database needs no crash safety while it is loaded
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("PRAGMA cache_size=-262144")
            sql = f"INSERT INTO event_records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
            chunk: list[tuple[Any, ...]] = []
            for row in rows:
                # SQLite stores UTCDateTime naive (UTC)
                chunk.append((*row[:5], row[5].replace(tzinfo=None), row[6].replace(tzinfo=None), *row[7:]))
                if len(chunk) == 50_000:
                    cur.executemany(sql, chunk)
                    raw.commit()
                    n += len(chunk)
                    chunk = []
            if chunk:
                cur.executemany(sql, chunk)
                n += len(chunk)
        raw.commit()
    finally:
        raw.close()
    return n


def _setup_site(session_factory: Any, c: Compound, now: datetime) -> None:
    from central.models.alerts import AlertRule
    from central.models.registry import Site

    with session_factory() as s:
        s.add(Site(id=c.site_id, name="基准小区", code=f"B{c.site_id[:8]}", created_at=now, updated_at=now))
        s.flush()
        for rtype, params in (
            ("stranger", {"ring": 1, "count": 5, "window_s": 600}),
            ("special_leaving", {}),
            ("watchlist", {}),
            ("door", {}),
        ):
            s.add(
                AlertRule(
                    site_id=c.site_id,
                    name=rtype,
                    type=rtype,
                    params=params,
                    created_at=now,
                    updated_at=now,
                    dedup_s=300,
                )
            )
        s.commit()


def _live_events(c: Compound, start: datetime, n: int) -> list[Any]:
    from contracts import Direction, PassEvent, PersonKind, StrangerEvent

    rng = random.Random(11)
    out: list[Any] = []
    for i in range(n):
        at = start + timedelta(seconds=i * 0.5)
        cam, zone, ring = c.cameras[rng.randint(0, len(c.cameras) - 1)]
        common = {
            "event_id": uuid.uuid4(),
            "site_id": c.site_id,
            "node_id": "node-1",
            "seq": i,
            "captured_at": at,
            "camera_id": cam,
            "zone_id": zone,
            "ring": ring,
        }
        if i % 20 == 0:
            out.append(StrangerEvent(**common, track_id=i, best_score=0.2, quality=0.8))
        else:
            out.append(
                PassEvent(
                    **common,
                    direction=Direction.inbound if i % 2 else Direction.outbound,
                    person_id=c.residents[rng.randint(0, len(c.residents) - 1)],
                    person_kind=PersonKind.owner,
                )
            )
    return out


def _queries(session_factory: Any, c: Compound, end: datetime, runs: int) -> dict[str, dict[str, float]]:
    from central.services.events import EventQuery, search, trajectory

    rng = random.Random(5)
    site = [c.site_id]

    def by_person() -> None:
        p = c.residents[rng.randint(0, len(c.residents) - 1)]
        with session_factory() as s:
            search(s, EventQuery(site_ids=site, person_id=p, since=end - timedelta(days=30), limit=50))

    def camera_day() -> None:
        cam = c.cameras[rng.randint(0, 3)][0]
        day = end - timedelta(days=rng.randint(1, 300))
        with session_factory() as s:
            search(
                s,
                EventQuery(site_ids=site, camera_id=cam, since=day, until=day + timedelta(days=1), limit=100),
            )

    def zone_kind() -> None:
        with session_factory() as s:
            search(s, EventQuery(site_ids=site, zone_id="zone-gates", kinds=("pass",), limit=50))

    def strangers_week() -> None:
        with session_factory() as s:
            search(
                s, EventQuery(site_ids=site, kinds=("stranger",), since=end - timedelta(days=7), limit=100)
            )

    def deep_page() -> None:
        with session_factory() as s:
            q = EventQuery(site_ids=site, ring=1, limit=50)
            page = search(s, q)
            for _ in range(19):
                if page.next_cursor is None:
                    break
                page = search(s, EventQuery(site_ids=site, ring=1, limit=50, cursor=page.next_cursor))

    def person_trajectory() -> None:
        p = c.residents[rng.randint(0, len(c.residents) - 1)]
        with session_factory() as s:
            trajectory(s, site, p, end - timedelta(days=7), end)

    out: dict[str, dict[str, float]] = {}
    for name, fn in (
        ("person_30d", by_person),
        ("camera_day", camera_day),
        ("zone_kind_latest", zone_kind),
        ("strangers_7d", strangers_week),
        ("cursor_20_pages", deep_page),
        ("trajectory_7d", person_trajectory),
    ):
        fn()  # warm
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {"p50_ms": round(_pct(times, 0.5), 2), "p95_ms": round(_pct(times, 0.95), 2)}
    return out


def _alert_delivery(engine: Any, c: Compound, n: int) -> dict[str, float]:
    """Ingest hook → alert on a WebSocket client of a real uvicorn server (loopback)."""
    with tempfile.TemporaryDirectory(prefix="anju-bench-") as data_dir:
        return _alert_delivery_in(engine, c, n, Path(data_dir))


def _alert_delivery_in(engine: Any, c: Compound, n: int, data_dir: Path) -> dict[str, float]:
    import socket

    import uvicorn
    import websockets

    from anju.clock import SystemClock
    from central.app import create_app
    from central.ingest import ops_runtime
    from central.models.alerts import AlertRule
    from central.security import issue_token
    from central.services.users import create_user
    from central.settings import CentralSettings
    from contracts import StrangerEvent

    secret = "bench-secret-" + "x" * 40
    settings = CentralSettings(
        environment="test",
        secret_key=secret,
        database_url="sqlite://",
        data_dir=data_dir,
    )
    clock = SystemClock()
    app = create_app(settings, clock=clock, engine=engine)
    now = clock.now()
    with app.state.session_factory() as s:
        s.add(
            AlertRule(
                site_id=c.site_id,
                name="ws",
                type="stranger",
                params={"ring": 4, "count": 1},
                created_at=now,
                updated_at=now,
                dedup_s=0,
            )
        )
        s.commit()
        user = create_user(
            s,
            username=f"bench{uuid.uuid4().hex[:6]}",
            password="bench password 123",
            role="guard",
            site_ids=[c.site_id],
            now=now,
        )
        token = issue_token(secret, user.id, user.token_version, now, 3600)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    ingestor = ops_runtime(app).ingestor
    latencies: list[float] = []

    async def client() -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/ws/alerts?token={token}") as ws:
            json.loads(await ws.recv())  # hello
            for i in range(n):
                event = StrangerEvent(
                    event_id=uuid.uuid4(),
                    site_id=c.site_id,
                    node_id="node-1",
                    seq=i,
                    captured_at=clock.now(),
                    camera_id="cam-ws",
                    ring=4,
                    track_id=i,
                    best_score=0.1,
                    quality=0.9,
                )
                t0 = time.perf_counter()
                batch: list[Any] = [event]
                await asyncio.get_running_loop().run_in_executor(None, ingestor.on_events, batch)
                while True:
                    msg = json.loads(await ws.recv())
                    if msg.get("notice") == "alert.created":
                        break
                latencies.append((time.perf_counter() - t0) * 1000)

    try:
        asyncio.run(client())
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return {
        "alerts": n,
        "p50_ms": round(_pct(latencies, 0.5), 2),
        "p99_ms": round(_pct(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
    }


def _run_db(name: str, url: str, args: argparse.Namespace, with_ws: bool) -> dict[str, Any]:
    from sqlalchemy import func, select

    from anju.clock import FakeClock
    from central.db import Base, create_all, make_engine, make_session_factory
    from central.ingest import Ingestor
    from central.models.events import EventRecord

    engine = make_engine(url)
    create_all(engine)
    factory = make_session_factory(engine)
    c = Compound(args.households)
    end = datetime(2026, 1, 1, tzinfo=timezone.utc)
    start = end - timedelta(days=args.days)
    _setup_site(factory, c, start)
    t = time.perf_counter()
    # A bulk load builds secondary indexes once at the end, as a restore would.
    indexes = list(Base.metadata.tables["event_records"].indexes)
    for index in indexes:
        index.drop(engine)
    loaded = _bulk_load(engine, _rows(c, start, args.days, args.trips_per_day, end))
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    for index in indexes:
        index.create(engine)
    index_s = time.perf_counter() - t
    # statistics as autovacuum would have them (committed: an ANALYZE rolled back is forgotten)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE event_records" if engine.dialect.name == "postgresql" else "ANALYZE")
    log.info("%s: loaded %d records in %.1fs", name, loaded, load_s)

    clock = FakeClock(end)
    ingestor = Ingestor(factory, clock)
    events = _live_events(c, end, args.ingest_events)
    t = time.perf_counter()
    for i in range(0, len(events), args.batch):
        ingestor.on_events(events[i : i + args.batch])
    ingest_s = time.perf_counter() - t
    queries = _queries(factory, c, end, args.query_runs)
    with factory() as s:
        total = int(s.scalar(select(func.count(EventRecord.id))) or 0)
    result: dict[str, Any] = {
        "records": total,
        "residents": len(c.residents),
        "bulk_load_rows_per_s": round(loaded / load_s),
        "index_build_s": round(index_s, 1),
        "ingest": {"events": len(events), "batch": args.batch, "events_per_s": round(len(events) / ingest_s)},
        "queries": queries,
    }
    if with_ws:
        result["alert_delivery_ws"] = _alert_delivery(engine, c, args.alerts)
    engine.dispose()
    return result


def run(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine, text

    if not args.json:
        logging.basicConfig(level=logging.INFO)
    figures: dict[str, Any] = {
        "bench": "central",
        "households": args.households,
        "days": args.days,
        "trips_per_resident_day": args.trips_per_day,
    }
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="anju-bench-") as tmp:
            figures["sqlite"] = _run_db("sqlite", f"sqlite:///{tmp}/bench.db", args, with_ws=True)
    if args.db in ("postgres", "both"):
        name = f"anju_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
            figures["postgres"] = _run_db("postgres", url, args, with_ws=args.db == "postgres")
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    sys.stdout.write(json.dumps(figures, ensure_ascii=False, indent=None if args.json else 2) + "\n")
    return 0
