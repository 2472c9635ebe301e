"""Live central server + real Chromium (through playwright-core) for the console's browser tests.

``console_server`` runs ``create_app`` under uvicorn on an ephemeral loopback port with a
temporary SQLite database, one site and one user per role. ``browser`` runs a Node scenario
from ``tests/console/scenarios/`` against it and returns the JSON the scenario printed last.
Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from anju.clock import SystemClock
from central.app import create_app
from central.db import create_all, make_engine, make_session_factory
from central.models.registry import Site
from central.routers.console import mount_console
from central.services.users import create_user
from central.settings import CentralSettings

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = os.environ.get("ANJU_CHROMIUM", "/usr/bin/chromium")
SECRET = "console-test-secret-0123456789abcdef-xyz"
PASSWORD = "correct horse battery"
ROLES = ("admin", "property_manager", "guard", "police", "grid_worker")
NODE_ID = "gate-north"


@dataclass
class ConsoleServer:
    """A running central with seeded users: ``users[role] = (username, password)``."""

    base_url: str
    app: FastAPI
    engine: Engine
    settings: CentralSettings
    site_id: str
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def session(self) -> Any:
        return make_session_factory(self.engine)()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_console(app: FastAPI) -> None:
    """Mount the console unless ``create_app`` already did (``mount_console`` is idempotent)."""
    mount_console(app)


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # runs in a thread; the test runner owns signals
        pass


def start_server(app: FastAPI) -> tuple[str, Callable[[], None]]:
    """Serve ``app`` on a free loopback port in a thread; returns the base URL and a stop function."""
    port = _free_port()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """Central as deployed: ``create_app`` with its MQTT link to a private Mosquitto, under uvicorn."""
    from central.settings import MqttLinkSettings
    from gateway.signing import generate_private_key, save_private_key, save_public_key

    tmp = tmp_path_factory.mktemp("console")
    broker = _load_broker_helper().Broker.plain(tmp / "broker")
    broker.start()
    engine = make_engine(f"sqlite:///{tmp / 'anju.db'}")
    create_all(engine)
    now = datetime.now(timezone.utc)
    with make_session_factory(engine)() as db:
        site = Site(name="安居花园", code="AJHY", division_code="330106", created_at=now, updated_at=now)
        db.add(site)
        db.commit()
        site_id = site.id
        users = {}
        for role in ROLES:
            username = f"{role}_1"
            create_user(
                db,
                username=username,
                password=PASSWORD,
                role=role,
                site_ids=[site_id],
                now=now,
                display_name={
                    "admin": "管理员",
                    "property_manager": "物业小王",
                    "guard": "保安老李",
                    "police": "民警张警官",
                    "grid_worker": "网格员小陈",
                }[role],
            )
            users[role] = (username, PASSWORD)
    # One edge node's identity, registered with central the way broker-config lays keys out.
    node_keys = tmp / "node-keys"
    node_key = generate_private_key()
    save_private_key(node_key, tmp / f"{NODE_ID}.sign.pem")
    save_public_key(node_key.public_key(), node_keys / f"{NODE_ID}.sign.pub.pem")
    settings = CentralSettings(
        environment="test",
        secret_key=SECRET,
        data_dir=tmp / "data",
        database_url=f"sqlite:///{tmp / 'anju.db'}",
        mqtt=MqttLinkSettings(
            enabled=True,
            host="127.0.0.1",
            port=broker.port,
            client_id=f"central-console-{os.getpid()}",
            extra={"node_keys": {site_id: str(node_keys)}},
        ),
    )
    app = create_app(settings, clock=SystemClock(), engine=engine)
    ensure_console(app)
    base_url, stop = start_server(app)
    try:
        yield ConsoleServer(
            base_url,
            app,
            engine,
            settings,
            site_id,
            users,
            extras={"broker_port": broker.port, "node_key": tmp / f"{NODE_ID}.sign.pem", "tmp": tmp},
        )
    finally:
        stop()
        engine.dispose()
        broker.stop()


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/setup.sh installs the console test tools)")
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        pytest.fail("playwright-core is missing: run `npm ci` (scripts/setup.sh does)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh does)")
    return node


@dataclass
class ScenarioRun:
    """A scenario process started in the background: talk to it over stdin/stdout lines."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def wait_for(self, marker: str, timeout: float = 60.0) -> str:
        """Block until the scenario prints a line starting with ``marker``; returns that line."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if line.startswith(marker):
                return line.strip()
        raise AssertionError(f"scenario did not print {marker!r}:\n{''.join(self.lines)}\n{self._stderr()}")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 120.0) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=timeout)
        self.lines.extend(out.splitlines(keepends=True))
        if self.proc.returncode != 0:
            raise AssertionError(
                f"scenario failed (rc={self.proc.returncode}):\n{''.join(self.lines)}\n{err}"
            )
        last = [ln for ln in self.lines if ln.startswith("{")]
        return json.loads(last[-1]) if last else {}

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        _, err = self.proc.communicate(timeout=10)
        return err


@pytest.fixture(scope="module")
def browser(console_server: ConsoleServer) -> Iterator[Callable[..., ScenarioRun]]:
    """``browser('login_roles', KEY=value)`` starts a Node scenario against the live server."""
    node = _node()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    runs: list[ScenarioRun] = []

    def start(name: str, **env: str) -> ScenarioRun:
        (SCREENSHOTS / f"failure-{name}.png").unlink(missing_ok=True)  # only this run's failure is kept
        full_env = {
            **os.environ,
            "BASE_URL": console_server.base_url,
            "CHROMIUM": CHROMIUM,
            "SCREENSHOTS": str(SCREENSHOTS),
            "USERS": json.dumps(console_server.users),
            "SITE_ID": console_server.site_id,
            **env,
        }
        proc = subprocess.Popen(
            [node, str(SCENARIOS / f"{name}.mjs")],
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        run = ScenarioRun(proc)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.communicate(timeout=10)


def _load_broker_helper() -> Any:
    """The gateway tests' mosquitto runner (one real broker on an ephemeral loopback port)."""
    import importlib.util
    import sys

    path = ROOT / "tests" / "gateway" / "broker.py"
    spec = importlib.util.spec_from_file_location("anju_console_tests_broker", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class GatewayRig:
    """One edge node's gateway link to the live server's broker (central's own link consumes)."""

    edge: Any  # gateway.edge_link.EdgeLink
    node_id: str


@pytest.fixture(scope="module")
def gateway_rig(console_server: ConsoleServer) -> Iterator[GatewayRig]:
    """Edge → MQTT (mosquitto) → central's ``GatewayLink`` (started by create_app) → ingest → alert feed."""
    from central.keys import app_signer, key_path
    from gateway.config import BrokerConfig, EdgeLinkConfig
    from gateway.edge_link import EdgeLink
    from gateway.outbox import Outbox
    from gateway.signing import Signer, load_private_key, save_public_key

    tmp: Path = console_server.extras["tmp"]
    central_pub = key_path(console_server.settings).with_suffix(".pub.pem")
    if not central_pub.exists():
        save_public_key(app_signer(console_server.app).public_key, central_pub)
    outbox = Outbox(tmp / "outbox.db", 64 * 1024 * 1024, SystemClock(), synchronous="NORMAL")
    edge = EdgeLink(
        EdgeLinkConfig(
            site_id=console_server.site_id,
            node_id=NODE_ID,
            broker=BrokerConfig(
                host="127.0.0.1",
                port=console_server.extras["broker_port"],
                reconnect_min_s=0.2,
                reconnect_max_s=1.0,
            ),
            signing_key=console_server.extras["node_key"],
            central_public_keys=[central_pub],
        ),
        outbox,
        Signer(NODE_ID, load_private_key(console_server.extras["node_key"])),
        SystemClock(),
    )
    edge.start()
    assert edge.wait_ready(30), "edge link did not connect to the broker"
    try:
        yield GatewayRig(edge, NODE_ID)
    finally:
        edge.stop()
        outbox.close()


class Api:
    """A small authenticated HTTP client for seeding data through the real API."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=base_url + "/api/v1", timeout=30)
        res = self.client.post("/auth/login", json={"username": username, "password": password})
        res.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {res.json()['access_token']}"

    def __call__(self, method: str, path: str, **kw: Any) -> Any:
        res = self.client.request(method, path, **kw)
        if res.status_code >= 400:
            raise AssertionError(f"{method} {path} → {res.status_code}: {res.text}")
        return (
            res.json()
            if res.content and res.headers.get("content-type", "").startswith("application/json")
            else res
        )


@pytest.fixture(scope="module")
def api(console_server: ConsoleServer) -> Callable[[str], Api]:
    """``api('admin')('POST', '/zones', json=…)``: seeding through the same API the console uses."""
    cache: dict[str, Api] = {}

    def for_role(role: str) -> Api:
        if role not in cache:
            cache[role] = Api(console_server.base_url, *console_server.users[role])
        return cache[role]

    return for_role
