"""``anju bench gateway``: events/s from an edge outbox through Mosquitto into central's database.

The edge runs in its own process (as on a real box: its signing and outbox do not
share a GIL with central); the broker is a private ``mosquitto`` on a loopback
port; central's consumer verifies signatures, de-duplicates (ON CONFLICT on the
event id) and stores in SQLite and/or PostgreSQL. Three phases per database:

- ``sustained``: the edge puts events as fast as it can (durable outbox,
  ``synchronous=FULL``, 500 per transaction); events/s from the first put to the
  last stored row;
- ``latency``: a paced load (``--rate``/s); p50/p99 of stored-at minus captured-at;
- ``drain``: the broker is down while the edge queues ``--events``; then it
  starts and the backlog drains; events/s from broker start to the last row.

Before those, ``outbox_put`` measures single-event ``Outbox.put`` calls/s in
this process (``synchronous=FULL``, one event per call, as camera workers put
them) with 1 and 4 writer threads, once with one transaction per call (the
old behaviour) and once with group commit, and reports the ratio.
``--databases ''`` runs only that part.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SITE = "bench"
MOSQUITTO = "/usr/sbin/mosquitto"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=20_000, help="events per sustained/drain phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced events/s for the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql"
    )
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--outbox-seconds", type=float, default=3.0, help="seconds per outbox_put run (0: skip)"
    )
    parser.add_argument(
        "--outbox-threads", default="1,4", help="comma-separated writer thread counts for outbox_put"
    )
    parser.add_argument(
        "--outbox-rounds", type=int, default=3, help="alternating per-call/group runs per thread count"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON figures")


class _Broker:
    def __init__(self, workdir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        import getpass

        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            "\n".join(
                [
                    f"user {getpass.getuser()}",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "max_inflight_messages 1000",
                    "max_queued_messages 1000000",
                    "set_tcp_nodelay true",
                    f"log_dest file {workdir / 'mosquitto.log'}",
                    "",
                ]
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _edge_main(cfg_json: str, outbox_path: str, n: int, rate: float, q: Any) -> None:
    """Edge process: put ``n`` events (paced when ``rate`` > 0) and drain them."""
    from anju.clock import SystemClock
    from contracts.messages import PassEvent, PersonKind
    from gateway.config import EdgeLinkConfig
    from gateway.edge_link import EdgeLink
    from gateway.outbox import Outbox

    clock = SystemClock()
    cfg = EdgeLinkConfig.model_validate_json(cfg_json)
    link = EdgeLink(cfg, Outbox(Path(outbox_path), 1 << 31, clock, synchronous="FULL"), None, clock)
    link.start()
    q.put(("started", time.time()))
    chunk = 500 if rate <= 0 else max(1, int(rate / 100))
    t0 = time.monotonic()
    done = 0
    while done < n:
        k = min(chunk, n - done)
        link.publish_many(
            [
                link.events.make(
                    PassEvent, camera_id="cam-1", person_id=f"p-{done + i}", person_kind=PersonKind.owner
                )
                for i in range(k)
            ]
        )
        done += k
        if rate > 0:
            ahead = done / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    q.put(("put_done", time.time()))
    link.wait_drained(600)
    q.put(("drained", time.time()))
    q.put(("cpu_s", time.process_time()))
    link.stop()


def _outbox_run(path: Path, threads: int, group_commit: bool, seconds: float) -> dict[str, Any]:
    """``threads`` writers each put one event per call for ``seconds``; calls/s over all of them."""
    from anju.clock import SystemClock
    from contracts.messages import PassEvent, PersonKind
    from gateway.outbox import Outbox

    clock = SystemClock()
    box = Outbox(path, 1 << 30, clock, synchronous="FULL", group_commit=group_commit)
    stop = threading.Event()
    counts = [0] * threads

    def writer(i: int) -> None:
        while not stop.is_set():
            box.put(
                PassEvent(
                    event_id=uuid.uuid4(),
                    site_id=SITE,
                    node_id="edge-outbox",
                    seq=box.next_seq(),
                    captured_at=clock.now(),
                    camera_id=f"cam-{i}",
                    person_id="p-1",
                    person_kind=PersonKind.owner,
                )
            )
            counts[i] += 1

    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    stop.wait(seconds)
    stop.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    total = sum(counts)
    commits = box.commits()
    box.close()
    return {
        "puts": total,
        "seconds": round(elapsed, 3),
        "puts_per_s": round(total / elapsed, 1),
        "transactions": commits,
        "events_per_transaction": round(total / commits, 2) if commits else None,
    }


def _outbox_put(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(t) for t in args.outbox_threads.split(",") if t.strip()]
    section: dict[str, Any] = {
        "synchronous": "FULL",
        "seconds_per_run": args.outbox_seconds,
        "rounds": args.outbox_rounds,
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "per_call": {},
        "group_commit": {},
        "ratio_group_vs_per_call": {},
    }
    work = Path(tempfile.mkdtemp(prefix="anju-bench-outbox-"))
    try:
        for n in counts:
            runs: dict[str, list[dict[str, Any]]] = {"per_call": [], "group_commit": []}
            # Alternating rounds, so a change in machine load hits both modes alike.
            for r in range(max(1, args.outbox_rounds)):
                for mode, group in (("per_call", False), ("group_commit", True)):
                    runs[mode].append(_outbox_run(work / f"{mode}-{n}-{r}.db", n, group, args.outbox_seconds))
            for mode, done in runs.items():
                puts = sum(d["puts"] for d in done)
                secs = sum(d["seconds"] for d in done)
                txs = sum(d["transactions"] for d in done)
                section[mode][str(n)] = {
                    "puts": puts,
                    "seconds": round(secs, 3),
                    "puts_per_s": round(puts / secs, 1),
                    "puts_per_s_each_round": [d["puts_per_s"] for d in done],
                    "transactions": txs,
                    "events_per_transaction": round(puts / txs, 2) if txs else None,
                }
            before = section["per_call"][str(n)]["puts_per_s"]
            after = section["group_commit"][str(n)]["puts_per_s"]
            section["ratio_group_vs_per_call"][str(n)] = round(after / before, 2) if before else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return section


class _Sink:
    def __init__(self) -> None:
        self.count = 0
        self.latencies: list[float] = []
        self.last_at = 0.0
        self.cond = threading.Condition()

    def __call__(self, events: list[Any]) -> None:
        now = time.time()
        with self.cond:
            self.count += len(events)
            self.latencies.extend(now - e.captured_at.timestamp() for e in events)
            self.last_at = now
            self.cond.notify_all()

    def wait(self, n: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.count >= n, timeout)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100.0 * len(s)))]


def _run_database(kind: str, url: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import sqlalchemy as sa
    from prometheus_client import CollectorRegistry

    from anju.clock import SystemClock
    from gateway.central_link import CentralConsumer
    from gateway.config import BrokerConfig, CentralLinkConfig, EdgeLinkConfig
    from gateway.metrics import GatewayMetrics
    from gateway.signing import (
        CENTRAL_SIGNER_ID,
        NodeKey,
        Signer,
        StaticKeyRegistry,
        generate_private_key,
        save_private_key,
        save_public_key,
    )
    from gateway.store import SqlEventStore, metadata

    engine = sa.create_engine(url)
    metadata.drop_all(engine)
    store = SqlEventStore(engine)
    store.create_tables()
    central = Signer(CENTRAL_SIGNER_ID, generate_private_key())
    save_private_key(central._key, work / "central.pem")
    save_public_key(central.public_key, work / "central.pub.pem")
    registry = StaticKeyRegistry()
    broker = _Broker(work / "broker")
    broker.start()
    ctx = mp.get_context("spawn")
    results: dict[str, Any] = {}
    try:
        for phase in ("sustained", "latency", "drain"):
            node = f"edge-{phase}"
            key = generate_private_key()
            save_private_key(key, work / f"{node}.pem")
            registry.add(NodeKey(SITE, node, key.public_key()))
            sink = _Sink()
            bcfg = BrokerConfig(port=broker.port, reconnect_min_s=0.2, reconnect_max_s=1)
            consumer = CentralConsumer(
                CentralLinkConfig(
                    broker=bcfg, signing_key=work / "central.pem", site_id=SITE, batch_max=2000
                ),
                store,
                registry,
                sink,
                SystemClock(),
                signer=central,
                metrics=GatewayMetrics(CollectorRegistry()),
            )
            consumer.start(wait_connected_s=15)
            ecfg = EdgeLinkConfig(
                site_id=SITE,
                node_id=node,
                broker=bcfg,
                signing_key=work / f"{node}.pem",
                central_public_keys=[work / "central.pub.pem"],
            )
            n = int(args.rate * args.latency_seconds) if phase == "latency" else args.events
            rate = args.rate if phase == "latency" else 0.0
            if phase == "drain":
                broker.stop()
            cpu0 = time.process_time()
            load = os.getloadavg()[0]
            q = ctx.Queue()
            proc = ctx.Process(
                target=_edge_main, args=(ecfg.model_dump_json(), str(work / f"{node}.db"), n, rate, q)
            )
            proc.start()
            marks = {}
            while "put_done" not in marks:
                name, at = q.get(timeout=600)
                marks[name] = at
            t0 = marks["started"]
            if phase == "drain":
                broker.start()
                t0 = time.time()
            if not sink.wait(n, 600):
                raise RuntimeError(f"{kind}/{phase}: only {sink.count} of {n} events stored")
            while "cpu_s" not in marks:
                name, at = q.get(timeout=600)
                marks[name] = at
            proc.join(120)
            consumer.stop()
            central_cpu = time.process_time() - cpu0
            elapsed = sink.last_at - t0
            figures: dict[str, Any] = {"events": n, "seconds": round(elapsed, 3)}
            figures["events_per_s"] = round(n / elapsed, 1) if elapsed > 0 else None
            figures["latency_p50_ms"] = round(_pct(sink.latencies, 50) * 1000, 2)
            figures["latency_p99_ms"] = round(_pct(sink.latencies, 99) * 1000, 2)
            figures["duplicates_seen"] = consumer.stats.get("duplicates", 0)
            # CPU per event, so runs on a busy machine can be compared: the wall clock alone cannot.
            figures["edge_cpu_us_per_event"] = round(marks["cpu_s"] / n * 1e6, 1)
            figures["central_cpu_us_per_event"] = round(central_cpu / n * 1e6, 1)
            figures["load_average_1m_at_start"] = round(load, 2)
            if store.count_events(node_id=node) != n:
                raise RuntimeError(f"{kind}/{phase}: {store.count_events(node_id=node)} rows for {n} events")
            results[phase] = figures
    finally:
        broker.stop()
        metadata.drop_all(engine)
        engine.dispose()
    return results


def run(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    report: dict[str, Any] = {
        "bench": "gateway",
        "config": {
            "events": args.events,
            "rate": args.rate,
            "latency_seconds": args.latency_seconds,
            "outbox": "sqlite WAL synchronous=FULL, 500 events/transaction",
            "signing": "Ed25519 per event, verified at central",
            "dedup": "INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING",
        },
        "databases": {},
    }
    if args.outbox_seconds > 0:
        report["outbox_put"] = _outbox_put(args)
    for kind in [d.strip() for d in args.databases.split(",") if d.strip()]:
        work = Path(tempfile.mkdtemp(prefix=f"anju-bench-gw-{kind}-"))
        try:
            if kind == "sqlite":
                report["databases"][kind] = _run_database(
                    kind, f"sqlite:///{work / 'central.db'}", args, work
                )
            elif kind == "postgresql":
                name = f"anju_bench_gw_{uuid.uuid4().hex[:8]}"
                admin = sa.create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                try:
                    url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
                    report["databases"][kind] = _run_database(kind, url, args, work)
                finally:
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    admin.dispose()
            else:
                log.error("unknown database %s (sqlite, postgresql)", kind)
                return 2
        finally:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(report, indent=None if args.json else 2)
    if args.json:
        log.debug("gateway bench done")
    print(text)  # noqa: T201 - the figures are the command's output
    return 0
