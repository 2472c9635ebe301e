"""Routers mounted under ``/api/v1`` by ``create_app``.

To add yours: write ``central/routers/<name>.py`` with ``router = APIRouter(prefix="/<name>",
tags=["<name>"])`` and add ONE line to ``ROUTERS`` below. Keep routes thin: parse, check roles
and site access (``central.deps``), call a service, return a response model.
"""

from fastapi import APIRouter

from central.routers import audit as audit
from central.routers import auth as auth
from central.routers import users as users

ROUTERS: list[APIRouter] = [
    auth.router,
    users.router,
    audit.router,
]
