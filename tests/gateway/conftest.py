"""Fixtures for gateway tests: a real Mosquitto per test, signing keys, SQLite and PostgreSQL stores."""

from __future__ import annotations

import importlib.util
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from anju.clock import SystemClock
from contracts.messages import Event, PassEvent, PersonKind
from gateway.central_link import CentralConsumer
from gateway.config import BrokerConfig, CentralLinkConfig, EdgeLinkConfig
from gateway.edge_link import EdgeLink
from gateway.metrics import GatewayMetrics
from gateway.outbox import Outbox
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


def _load_helper(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"anju_gateway_tests_{name}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


broker_mod = _load_helper("broker")
Broker = broker_mod.Broker

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SITE = "site-1"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    b = Broker.plain(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@dataclass
class Keys:
    dir: Path
    central: Signer
    central_pub: Path
    nodes: dict[str, Signer]
    registry: StaticKeyRegistry

    def node(self, node_id: str) -> Signer:
        if node_id not in self.nodes:
            signer = Signer(node_id, generate_private_key())
            self.nodes[node_id] = signer
            self.registry.add(NodeKey(site_id=SITE, signer_id=node_id, public_key=signer.public_key))
        return self.nodes[node_id]


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    d = tmp_path / "keys"
    central_key = generate_private_key()
    save_private_key(central_key, d / "central.sign.pem")
    save_public_key(central_key.public_key(), d / "central.sign.pub.pem")
    k = Keys(
        dir=d,
        central=Signer(CENTRAL_SIGNER_ID, central_key),
        central_pub=d / "central.sign.pub.pem",
        nodes={},
        registry=StaticKeyRegistry(),
    )
    return k


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"anju_gateway_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlEventStore]:
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'central.db'}")
    else:
        engine = sa.create_engine(request.getfixturevalue("pg_url"))
    s = SqlEventStore(engine)
    metadata.drop_all(engine)
    s.create_tables()
    yield s
    metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlEventStore]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'central.db'}")
    s = SqlEventStore(engine)
    s.create_tables()
    yield s
    engine.dispose()


@dataclass
class Counted:
    """What central's ``on_events`` saw, thread-safe."""

    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cond: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.cond = threading.Condition(self.lock)

    def __call__(self, events: list[Event]) -> None:
        with self.cond:
            self.events.extend(events)
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 60.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.events), timeout)


def broker_config(port: int) -> BrokerConfig:
    return BrokerConfig(host="127.0.0.1", port=port, reconnect_min_s=0.2, reconnect_max_s=1.0)


@pytest.fixture
def make_consumer(keys: Keys) -> Iterator[Callable[..., tuple[CentralConsumer, Counted]]]:
    started: list[CentralConsumer] = []

    def make(
        port: int, store: SqlEventStore, consumer_class: type[CentralConsumer] = CentralConsumer, **over: Any
    ) -> tuple[CentralConsumer, Counted]:
        counted = Counted()
        cfg = CentralLinkConfig(
            broker=broker_config(port), signing_key=keys.dir / "central.sign.pem", site_id=SITE, **over
        )
        consumer = consumer_class(
            cfg,
            store,
            keys.registry,
            counted,
            SystemClock(),
            signer=keys.central,
            metrics=GatewayMetrics(CollectorRegistry()),
        )
        consumer.start(wait_connected_s=15)
        started.append(consumer)
        return consumer, counted

    yield make
    for c in started:
        c.stop()


@pytest.fixture
def make_edge(keys: Keys, tmp_path: Path) -> Iterator[Callable[..., EdgeLink]]:
    started: list[EdgeLink] = []

    def make(
        port: int,
        node_id: str = "gate-a",
        start: bool = True,
        outbox_bytes: int = 256 * 1024 * 1024,
        **over: Any,
    ) -> EdgeLink:
        signer = keys.node(node_id)
        key_path = keys.dir / f"{node_id}.sign.pem"
        cfg = EdgeLinkConfig(
            site_id=SITE,
            node_id=node_id,
            broker=broker_config(port),
            signing_key=key_path,
            central_public_keys=[keys.central_pub],
            **over,
        )
        outbox = Outbox(tmp_path / f"outbox-{node_id}.db", outbox_bytes, SystemClock(), synchronous="NORMAL")
        link = EdgeLink(cfg, outbox, signer, SystemClock())
        if start:
            link.start()
            assert link.wait_ready(30)
        started.append(link)
        return link

    yield make
    for link in started:
        link.stop()
        link.outbox.close()


def pass_event(link: EdgeLink, **over: Any) -> PassEvent:
    fields: dict[str, Any] = {"camera_id": "cam-1", "person_id": "p-1", "person_kind": PersonKind.tenant}
    fields.update(over)
    return link.events.make(PassEvent, **fields)


@pytest.fixture
def make_pass() -> Callable[..., PassEvent]:
    return pass_event
