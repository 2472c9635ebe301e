"""Alembic migrations of the central database (see :mod:`central.migrate`)."""
