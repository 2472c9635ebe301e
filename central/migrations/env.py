"""Alembic environment: target metadata = central models + the gateway store (when present)."""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import MetaData, engine_from_config, pool

import central.models  # noqa: F401  (registers every central table)
from central.db import Base

config = context.config


def _metadatas() -> list[MetaData]:
    metas = [Base.metadata]
    try:
        store = importlib.import_module("gateway.store")
    except ModuleNotFoundError as exc:
        if exc.name not in ("gateway.store",):
            raise
    else:
        meta = getattr(store, "metadata", None)
        if isinstance(meta, MetaData):
            metas.append(meta)
    return metas


target_metadata = _metadatas()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = engine_from_config(
            config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
        )
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode for ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
