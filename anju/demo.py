"""``anju demo``: the whole system on one machine, with embedded defaults.

It starts, in this order and each as its own process:

1. an MQTT broker — Mosquitto on a free loopback port (persistence in the demo folder), or, when
   Mosquitto is not installed, the embedded Python broker (:mod:`anju.embedded_broker`: MQTT
   3.1.1, no shared subscriptions, so central and edge are told to use 3.1.1 and plain topics);
2. the central service on SQLite, seeded through its own REST API with a sample site, a
   community gate (ring 1), users for every role, two residents enrolled from sample photos
   (with consent records) and alert rules;
3. a real RTSP server streaming the sample clip (GStreamer), or the file itself when no RTSP
   server can run here;
4. one edge node reading that camera, deciding, driving a simulated door and publishing
   signed events through its outbox.

It prints the console URL and the demo logins, logs events as central records them and stops
everything cleanly on Ctrl-C (or after ``--duration`` seconds, which tests use). The state lives
in ``--data-dir``: ``--fresh`` starts clean, otherwise an earlier demo's state is reused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from anju.errors import AnjuError

log = logging.getLogger("anju.demo")

DEMO_DATA = Path(__file__).with_name("demo_data")
CLIP = DEMO_DATA / "short_hamilton_clip.mp4"
SITE_CODE = "demo"
NODE_ID = "gate-main"
CAMERA = "cam-main-in"
DOOR = "door-main"
ZONE = "gate-main"

# Demo logins: printed at start-up. Development mode only; never reuse in production.
USERS: tuple[tuple[str, str, str, str], ...] = (
    ("admin", "admin", "anju-admin-demo", "系统管理员"),
    ("property", "property_manager", "anju-property-demo", "物业 王经理"),
    ("guard", "guard", "anju-guard-demo", "门岗 李师傅"),
    ("police", "police", "anju-police-demo", "社区民警 张警官"),
    ("grid", "grid_worker", "anju-grid-demo", "网格员 赵姐"),
)

RESIDENTS: tuple[tuple[str, str, str], ...] = (
    ("林曼努尔·米兰达", "owner", "lin-manuel-miranda.jpg"),
    ("亚历克斯·拉卡莫瓦", "tenant", "alex-lacamoire.jpg"),
)


class DemoError(AnjuError):
    """The demo could not start; the message says which part and why."""


@dataclass
class DemoState:
    """What a later ``anju demo`` needs to reuse this folder."""

    site_id: str
    model_id: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DemoError(f"process exited with {proc.returncode} before port {port} opened")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise DemoError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


class Processes:
    """Child processes, stopped in reverse start order with SIGTERM, then SIGKILL."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        out = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops children in order
        )
        out.close()
        self._procs.append((name, proc))
        log.info("started %s (pid %d), log: %s", name, proc.pid, self.log_dir / f"{name}.log")
        return proc

    def stop(self, name: str, timeout: float = 10.0) -> None:
        for n, proc in list(self._procs):
            if n == name:
                self._terminate(n, proc, timeout)
                self._procs.remove((n, proc))

    def dead(self) -> list[str]:
        return [n for n, p in self._procs if p.poll() is not None]

    def stop_all(self) -> None:
        while self._procs:
            name, proc = self._procs.pop()
            self._terminate(name, proc, 10.0)

    @staticmethod
    def _terminate(name: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", name, timeout)
                proc.kill()
                proc.wait(5)
        # uvicorn re-raises the SIGTERM it handled, so -15 after a clean shutdown is expected.
        log.info(
            "stopped %s (exit %s)", name, "SIGTERM" if proc.returncode == -signal.SIGTERM else proc.returncode
        )


class Api:
    """A tiny authenticated client for central's REST API."""

    def __init__(self, base: str) -> None:
        import httpx

        self._http = httpx.Client(base_url=base + "/api/v1", timeout=120.0)
        self._token = ""

    def login(self, username: str, password: str) -> None:
        data = self.call("POST", "/auth/login", json={"username": username, "password": password})
        self._token = data["access_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-Anju-Reason": "demo%20setup"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        resp = self._http.request(method, path, headers=headers, **kwargs)
        if resp.status_code >= 400:
            raise DemoError(f"central refused {method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    def close(self) -> None:
        self._http.close()


class Demo:
    """Builds and runs the demo stack (see the module docstring)."""

    def __init__(self, data_dir: Path, http_port: int, fresh: bool, broker: str = "auto") -> None:
        self.dir = data_dir.resolve()
        self.broker_choice = broker  # auto | mosquitto | embedded
        self.http_port = http_port
        self.fresh = fresh
        self.procs = Processes(self.dir / "logs")
        self.broker_port = free_port()
        self.broker_protocol = "5"  # "3.1.1" with the embedded broker (no MQTT 5, no $share/)
        self.rtsp = None  # edge.rtsp_server.RtspServer when one runs
        self.state: DemoState | None = None

    # -- layout ------------------------------------------------------------------------------

    @property
    def central_dir(self) -> Path:
        return self.dir / "central"

    @property
    def keys_dir(self) -> Path:
        return self.dir / "keys"

    def prepare(self) -> None:
        if self.fresh and self.dir.exists():
            log.info("--fresh: removing the earlier demo state in %s", self.dir)
            shutil.rmtree(self.dir)
        for sub in ("logs", "central", "keys/nodes", "edge", "broker"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        state_file = self.dir / "demo.json"
        if state_file.exists():
            self.state = DemoState(**json.loads(state_file.read_text(encoding="utf-8")))
            log.info("reusing the demo state in %s (use --fresh to start clean)", self.dir)
        self._keys()

    def _keys(self) -> None:
        from gateway.signing import load_or_create_private_key, save_public_key

        central = load_or_create_private_key(self.keys_dir / "central_ed25519.pem")
        save_public_key(central.public_key(), self.keys_dir / "central.sign.pub.pem")
        node = load_or_create_private_key(self.keys_dir / f"{NODE_ID}.sign.pem")
        save_public_key(node.public_key(), self.keys_dir / "nodes" / f"{NODE_ID}.sign.pub.pem")

    # -- parts ---------------------------------------------------------------------------------

    def start_broker(self) -> None:
        mosquitto = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if self.broker_choice == "embedded" or (mosquitto is None and self.broker_choice == "auto"):
            self.start_embedded_broker()
            return
        if mosquitto is None:
            raise DemoError(
                "Mosquitto is not installed: run `make setup` as root (it installs the Debian package), "
                "`apt-get install mosquitto`, or use --broker embedded"
            )
        broker_dir = self.dir / "broker"
        if os.geteuid() == 0:
            # Mosquitto started as root drops to the "mosquitto" user: let it write its persistence file.
            with contextlib.suppress(LookupError, OSError):
                shutil.chown(broker_dir, user="mosquitto")
        conf = broker_dir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    "# Demo broker: loopback only. Production brokers use TLS and the ACL that",
                    "# `anju gateway broker-config` generates.",
                    f"listener {self.broker_port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence true",
                    f"persistence_location {self.dir / 'broker'}/",
                    "max_queued_messages 100000",
                    "log_dest stdout",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        proc = self.procs.start("mosquitto", [mosquitto, "-c", str(conf)])
        wait_port(self.broker_port, 10, proc)

    def start_embedded_broker(self) -> None:
        """No Mosquitto here: the pure-Python broker (MQTT 3.1.1, one central instance, no persistence)."""
        log.warning(
            "using the embedded Python broker (demo only; `apt-get install mosquitto` for the real one)"
        )
        self.broker_protocol = "3.1.1"
        proc = self.procs.start(
            "broker",
            [sys.executable, "-m", "anju.embedded_broker", "--port", str(self.broker_port)],
        )
        wait_port(self.broker_port, 30, proc)

    def _mqtt_extra(self) -> dict[str, Any]:
        """Settings for central's gateway link that depend on the broker in use."""
        if self.broker_protocol == "3.1.1":
            # no shared subscriptions on the embedded broker: plain topics, exactly one central
            return {"share_group": None, "broker": {"protocol": "3.1.1"}}
        return {}

    def _central_env(self, mqtt: bool) -> dict[str, str]:
        env = {
            "ANJU_ENVIRONMENT": "development",
            "ANJU_DATA_DIR": str(self.central_dir),
            "ANJU_SIGNING_KEY_PATH": str(self.keys_dir / "central_ed25519.pem"),
            "ANJU_MQTT__ENABLED": "true" if mqtt else "false",
            "ANJU_MQTT__PORT": str(self.broker_port),
        }
        if mqtt and self.state is not None:
            env["ANJU_MQTT__EXTRA"] = json.dumps(
                {
                    "node_keys": {self.state.site_id: str(self.keys_dir / "nodes")},
                    "model_id": self.state.model_id,
                    **self._mqtt_extra(),
                }
            )
        return env

    def _anju(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "anju.cli", *args]

    def start_central(self, mqtt: bool) -> None:
        proc = self.procs.start(
            "central",
            self._anju("central", "serve", "--host", "127.0.0.1", "--port", str(self.http_port)),
            self._central_env(mqtt),
        )
        wait_port(self.http_port, 120, proc)

    def seed(self) -> DemoState:
        """Users by the CLI, everything else through the REST API, like a property office would."""
        from models.registry import get_pack, model_id
        from recognition.config import RecognitionConfig

        env = {**os.environ, **self._central_env(False)}
        subprocess.run(self._anju("central", "migrate"), env=env, check=True, capture_output=True)
        admin_name, admin_role, admin_password, admin_display = USERS[0]
        subprocess.run(
            self._anju(
                "central",
                "create-user",
                "--username",
                admin_name,
                "--role",
                admin_role,
                "--display-name",
                admin_display,
                "--password-stdin",
            ),
            input=admin_password.encode(),
            env=env,
            check=True,
            capture_output=True,
        )
        self.start_central(mqtt=False)
        api = Api(f"http://127.0.0.1:{self.http_port}")
        try:
            api.login("admin", USERS[0][2])
            site = api.call(
                "POST",
                "/sites",
                json={
                    "name": "安居示范小区",
                    "code": SITE_CODE,
                    "division_name": "示范区",
                    "street": "示范街道",
                    "community": "示范社区",
                    "address": "示范路 1 号",
                },
            )
            site_id = site["id"]
            for username, role, password, display in USERS[1:]:
                api.call(
                    "POST",
                    "/users",
                    json={
                        "username": username,
                        "password": password,
                        "role": role,
                        "site_ids": [site_id],
                        "display_name": display,
                    },
                )
            zone = api.call(
                "POST",
                "/zones",
                json={"site_id": site_id, "code": ZONE, "name": "南大门", "ring": 1, "kind": "gate"},
            )
            for code, kind, name in ((CAMERA, "camera", "南大门入口摄像机"), (DOOR, "door", "南大门闸机")):
                api.call(
                    "POST",
                    "/devices",
                    json={
                        "zone_id": zone["id"],
                        "code": code,
                        "type": kind,
                        "name": name,
                        "direction": "in",
                        "node_id": NODE_ID,
                    },
                )
            building = api.call(
                "POST", "/buildings", json={"site_id": site_id, "number": "1", "name": "1号楼", "floors": 6}
            )
            house = api.call(
                "POST",
                "/houses",
                json={
                    "building_id": building["id"],
                    "unit": "1",
                    "floor": 3,
                    "room": "301",
                    "usage": "rental",
                },
            )
            household = api.call("POST", "/households", json={"house_id": house["id"], "name": "301 户"})
            for name, kind, photo in RESIDENTS:
                person = api.call(
                    "POST",
                    "/persons",
                    json={"site_id": site_id, "name": name, "kind": kind, "household_id": household["id"]},
                )
                api.call(
                    "POST", f"/persons/{person['id']}/consent", json={"granted_by": "self", "method": "paper"}
                )
                with (DEMO_DATA / photo).open("rb") as fh:
                    api.call(
                        "POST", f"/persons/{person['id']}/faces", files={"photo": (photo, fh, "image/jpeg")}
                    )
            for group in ("owner", "tenant", "family"):
                api.call(
                    "POST",
                    "/access-rules",
                    json={
                        "site_id": site_id,
                        "name": f"{group} 全天通行",
                        "subject_type": "group",
                        "subject_value": group,
                        "rings": [1, 2, 3],
                    },
                )
            for rule_type, name, severity in (
                ("stranger", "陌生人出现", "medium"),
                ("tailgating", "尾随进入", "high"),
                ("watchlist", "重点人员出现", "critical"),
                ("liveness", "活体检测失败", "high"),
            ):
                with contextlib.suppress(DemoError):  # a rule type this build lacks is not fatal
                    api.call(
                        "POST",
                        "/alert-rules",
                        json={"site_id": site_id, "name": name, "type": rule_type, "severity": severity},
                    )
        finally:
            api.close()
        self.procs.stop("central")
        pack = RecognitionConfig().pack
        state = DemoState(site_id=site_id, model_id=model_id(pack, get_pack(pack).file("embedder")))
        (self.dir / "demo.json").write_text(json.dumps(asdict(state)), encoding="utf-8")
        return state

    def start_camera(self) -> tuple[str, str]:
        """The sample clip over a real RTSP server, or as a looping file when none can run."""
        from edge.rtsp_server import RtspServer, RtspServerError

        try:
            server = RtspServer(CLIP, loops=200)
            server.start()
        except (RtspServerError, OSError) as exc:
            log.warning("no RTSP server here (%s): the edge reads the clip as a file instead", exc)
            return "file", str(CLIP)
        self.rtsp = server  # type: ignore[assignment]
        return "rtsp", server.url

    def start_edge(self, source: str, url: str) -> None:
        import yaml

        assert self.state is not None
        camera: dict[str, Any] = {
            "id": CAMERA,
            "source": source,
            "url": url,
            "ring": 1,
            "zone_id": ZONE,
            "direction": "in",
            "door_id": DOOR,
            "detect_fps": 10,
        }
        if source == "file":
            camera["loop"] = True
        config = {
            "site_id": self.state.site_id,
            "node_id": NODE_ID,
            "data_dir": str(self.dir / "edge"),
            "cameras": [camera],
            "doors": [{"id": DOOR, "driver": "simulated", "open_time_s": 3}],
            "fire_alarm": {"enabled": True, "driver": "simulated"},
            "privacy": {"snapshot_kinds": ["tailgating", "watchlist_hit"], "reconciliation": True},
            "metrics": {"port": 0},
            "gateway": {
                "site_id": self.state.site_id,
                "node_id": NODE_ID,
                "broker": {"host": "127.0.0.1", "port": self.broker_port, "protocol": self.broker_protocol},
                "signing_key": str(self.keys_dir / f"{NODE_ID}.sign.pem"),
                "central_public_keys": [str(self.keys_dir / "central.sign.pub.pem")],
                "heartbeat_interval_s": 10,
            },
        }
        path = self.dir / "edge" / "edge.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
        self.procs.start("edge", self._anju("edge", "run", "--config", str(path)))

    # -- run ----------------------------------------------------------------------------------

    def banner(self) -> None:
        url = f"http://127.0.0.1:{self.http_port}/"
        lines = [
            "",
            "安居 Anju demo is running / 演示系统已启动",
            f"  控制台 Console: {url}",
            f"  API docs:       {url}docs",
            "  登录 Logins (用户名 / 密码):",
            *[f"    {d:<14} {u:<9} / {p}" for u, _r, p, d in USERS],
            f"  Logs: {self.dir / 'logs'}    Ctrl-C stops everything / 按 Ctrl-C 退出",
            "",
        ]
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()

    def follow_events(self, stop: threading.Event, seen_out: list[dict[str, Any]]) -> None:
        """Log every event central records, as it arrives (the console shows the same live)."""
        api = Api(f"http://127.0.0.1:{self.http_port}")
        seen: set[str] = set()
        names: dict[str, str] = {}
        try:
            while not stop.is_set():
                try:
                    if not api._token:
                        api.login("admin", USERS[0][2])
                    assert self.state is not None
                    page = api.call("GET", "/events", params={"site_id": self.state.site_id, "limit": 50})
                except Exception as exc:  # central restarting: keep following
                    log.debug("event poll failed: %s", exc)
                    stop.wait(1.0)
                    continue
                items = page["items"] if isinstance(page, dict) else page
                for ev in reversed(items):
                    key = str(ev.get("id") or ev.get("event_id"))
                    if key in seen:
                        continue
                    seen.add(key)
                    seen_out.append(ev)
                    person_id = ev.get("person_id")
                    if person_id and person_id not in names:
                        try:
                            names[person_id] = api.call("GET", f"/persons/{person_id}")["name"]
                        except DemoError:
                            names[person_id] = person_id
                    log.info(
                        "event: %-16s %-12s %s %s",
                        ev.get("kind"),
                        names.get(person_id, "") if person_id else "",
                        ev.get("camera_id") or "",
                        ev.get("captured_at") or "",
                    )
                stop.wait(1.0)
        finally:
            api.close()

    def run(self, duration: float | None, summary: Path | None) -> int:
        stop = threading.Event()
        events: list[dict[str, Any]] = []

        def on_signal(_sig: int, _frame: object) -> None:
            stop.set()

        previous = signal.signal(signal.SIGINT, on_signal)
        previous_term = signal.signal(signal.SIGTERM, on_signal)
        follower: threading.Thread | None = None
        try:
            self.prepare()
            self.start_broker()
            if self.state is None:
                self.state = self.seed()
            self.start_central(mqtt=True)
            source, url = self.start_camera()
            self.start_edge(source, url)
            self.banner()
            follower = threading.Thread(target=self.follow_events, args=(stop, events), daemon=True)
            follower.start()
            deadline = None if duration is None else time.monotonic() + duration
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                dead = self.procs.dead()
                if dead:
                    raise DemoError(f"{', '.join(dead)} stopped unexpectedly; see {self.dir / 'logs'}")
                stop.wait(0.5)
        finally:
            stop.set()
            if follower is not None:
                follower.join(5)
            self.procs.stop_all()
            if self.rtsp is not None:
                self.rtsp.stop()
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGTERM, previous_term)
            if summary is not None:
                summary.write_text(
                    json.dumps({"events": events}, ensure_ascii=False, default=str), encoding="utf-8"
                )
            log.info("demo stopped; state kept in %s", self.dir)
        return 0


def _run(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    demo = Demo(Path(args.data_dir), args.port or free_port(), fresh=args.fresh, broker=args.broker)
    return demo.run(args.duration, args.summary)


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the whole system locally (broker, central, RTSP camera, edge)")
    p.add_argument(
        "--data-dir", default=os.environ.get("ANJU_DEMO_DIR", ".anju/demo"), help="demo state folder"
    )
    p.add_argument("--fresh", action="store_true", help="start from a clean state (default: reuse)")
    p.add_argument("--port", type=int, default=8000, help="console/API port (0 = any free port)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--summary", type=Path, default=None, help="write the events seen as JSON here on exit")
    p.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "embedded"],
        default="auto",
        help="MQTT broker: Mosquitto when installed (auto), or the embedded Python broker (MQTT 3.1.1)",
    )
    p.set_defaults(func=_run)
