"""Routers mounted under ``/api/v1`` by ``create_app``.

To add yours: write ``central/routers/<name>.py`` with ``router = APIRouter(prefix="/<name>",
tags=["<name>"])`` and add ONE line to ``ROUTERS`` below. Keep routes thin: parse, check roles
and site access (``central.deps``), call a service, return a response model.
"""

from fastapi import APIRouter

from central.reconciliation import router as reconciliation
from central.routers import alerts as alerts
from central.routers import audit as audit
from central.routers import auth as auth
from central.routers import camera_uptime as camera_uptime
from central.routers import console_siteplan as console_siteplan
from central.routers import doors as doors
from central.routers import enrolment as enrolment
from central.routers import events as events
from central.routers import live as live
from central.routers import persons as persons
from central.routers import registry as registry
from central.routers import retention as retention
from central.routers import transfer as transfer
from central.routers import users as users
from central.routers import vehicles as vehicles
from central.routers import visitors as visitors
from central.routers import zones as zones

ROUTERS: list[APIRouter] = [
    auth.router,
    users.router,
    audit.router,
    registry.router,
    persons.router,
    enrolment.router,
    transfer.router,
    console_siteplan.router,
    zones.router,
    events.router,
    live.router,  # before alerts: /alerts/stream must not match /alerts/{alert_id}
    alerts.router,
    visitors.router,
    vehicles.router,
    doors.router,
    retention.router,
    camera_uptime.router,
    reconciliation.router,
]
