"""Fixtures for central tests: every test using ``engine``/``client`` runs on SQLite AND PostgreSQL.

* ``pg_server_url`` — the local PostgreSQL; a throwaway database is created per test session
  (``pg_database_url``) and dropped at the end.
* ``engine`` — parametrised ``sqlite``/``postgres``; tables from ``Base.metadata``; isolation per
  test (a fresh SQLite file; TRUNCATE of every table on PostgreSQL afterwards).
* ``clock`` — a :class:`FakeClock`; ``settings``; ``app``; ``client`` (TestClient).
* ``make_site(name=…)`` → Site; ``login(role, site_ids)`` → (User, headers dict with bearer token).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.app import create_app
from central.db import Base, create_all, make_engine, make_session_factory
from central.models.registry import Site
from central.models.users import User
from central.security import issue_token
from central.services.users import create_user
from central.settings import CentralSettings

PG_SERVER = os.environ.get("ANJU_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECRET = "test-secret-key-0123456789abcdef-0123456789"
PASSWORD = "correct horse battery"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    name = f"anju_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _pg_engine(pg_database_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_database_url)
    create_all(eng)
    yield eng
    eng.dispose()


def _clear_all(eng: Engine) -> None:
    # DELETE is much faster than TRUNCATE for the few rows a test writes.
    with eng.begin() as conn:
        conn.execute(text("SELECT set_config('anju.audit_purge', 'on', true)"))  # audit_log is append-only
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        # The gateway's raw event store lives in the same database (tests create it on demand):
        # a leftover event would be "caught up" by the next test's ingestor.
        from gateway.store import metadata as gateway_metadata

        present = set(inspect(conn).get_table_names())
        for table in reversed(gateway_metadata.sorted_tables):
            if table.name in present:
                conn.execute(table.delete())


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "central.db"
    eng = make_engine(f"sqlite:///{path}")
    create_all(eng)
    with eng.begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        db_file = tmp_path / "central.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), db_file)
        eng = make_engine(f"sqlite:///{db_file}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("_pg_engine")
        yield eng
        _clear_all(eng)


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)() as session:
        yield session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc))


@pytest.fixture
def settings(tmp_path: Path) -> CentralSettings:
    return CentralSettings(
        environment="test", secret_key=SECRET, data_dir=tmp_path / "data", database_url="sqlite://"
    )


@pytest.fixture
def app(settings: CentralSettings, clock: FakeClock, engine: Engine) -> FastAPI:
    return create_app(settings, clock=clock, engine=engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_site(db: Session, clock: FakeClock) -> Callable[..., Site]:
    def make(name: str | None = None, **kw: Any) -> Site:
        code = kw.pop("code", None) or f"S{uuid.uuid4().hex[:8]}"
        site = Site(
            name=name or f"小区{code}",
            code=code,
            division_code=kw.pop("division_code", "330106"),
            created_at=clock.now(),
            updated_at=clock.now(),
            **kw,
        )
        db.add(site)
        db.commit()
        return site

    return make


@pytest.fixture
def login(
    db: Session, clock: FakeClock, settings: CentralSettings
) -> Callable[..., tuple[User, dict[str, str]]]:
    """``login(role, [site_ids])`` creates a user and returns it with Authorization headers."""

    def make(role: str, site_ids: list[str] | None = None) -> tuple[User, dict[str, str]]:
        user = create_user(
            db,
            username=f"{role}_{uuid.uuid4().hex[:6]}",
            password=PASSWORD,
            role=role,
            site_ids=site_ids or [],
            now=clock.now(),
        )
        token = issue_token(
            settings.secret_key, user.id, user.token_version, clock.now(), settings.token_ttl_s
        )
        return user, {"Authorization": f"Bearer {token}"}

    return make
