"""Database foundation: the declarative ``Base``, engines, sessions and column helpers.

Conventions every central model follows (see ``central/README.md``):

* primary keys are string UUIDs: ``id: Mapped[str] = mapped_column(String(36), primary_key=True,
  default=new_id)`` — or just inherit :class:`IdMixin`;
* timestamps use :class:`UTCDateTime`, which stores UTC and always gives back timezone-aware
  datetimes, also on SQLite; :class:`TimestampMixin` adds ``created_at``/``updated_at``;
* no engine or session exists at import time: :func:`make_engine` and :func:`make_session_factory`
  are called by ``create_app`` (and by tests/CLI).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, String, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.orm import Session as Session
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

# Stable constraint names so that Alembic autogenerate and both dialects agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """A new random UUID4 as a 36-character string (the primary-key type of every central table)."""
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Stores timezone-aware datetimes as UTC; returns aware UTC datetimes on every dialect.

    Naive datetimes are refused on the way in (ValueError): their zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every central table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012  (SQLAlchemy reads it)


class IdMixin:
    """A string-UUID primary key named ``id``."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


class TimestampMixin:
    """``created_at`` and ``updated_at``; set them from the injected clock in services."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``.

    SQLite keeps the sqlite3 module's implicit transactions (reads see the newest commit, as on
    PostgreSQL's READ COMMITTED); do not use SAVEPOINTs (``begin_nested``) on it: one opened outside
    a write transaction is committed by its RELEASE.

    SQLite gets WAL, foreign keys, a busy timeout and cross-thread use (FastAPI runs sync routes in
    a thread pool); ``sqlite://`` in memory shares one connection. PostgreSQL gets pre-ping.
    """
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 15}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, echo=echo, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Session factory; ``expire_on_commit=False`` so objects stay readable after a service commits."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def create_all(engine: Engine) -> None:
    """Create every table from the models (tests and ``--no-migrate`` dev runs; production uses Alembic)."""
    import central.models  # noqa: F401  (registers every model on Base.metadata)

    Base.metadata.create_all(engine)
