"""Wiring into the central app: the ingest hook on the gateway consumer and the periodic job.

:func:`start_reconciliation` is a central start-up hook. It chains
``ReconciliationHook.on_events`` in front of the ops ingestor's ``on_events`` (the function the
gateway's ``CentralConsumer`` calls with newly stored events), and outside tests starts
:class:`ReconciliationWorker`, which every ``interval_s`` rescores every site, schedules
grid-worker rental visits, pushes overdue-visit reminders as alerts (one alert per overdue
task, ``central.reconciliation.reminders``) through the ops notifier, and purges old sightings.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from central.reconciliation import gridwork, reminders
from central.reconciliation.hook import ReconciliationHook
from central.reconciliation.service import ReconciliationService
from central.services.notify import AlertSink, FanOut

log = logging.getLogger(__name__)

EXTRA_KEY = "reconciliation"


class ReconciliationWorker:
    """One thread; ``tick()`` runs one round (tests call it directly on a FakeClock).

    ``notifier`` receives the alert notices of overdue visits after each site's round commits
    (the app passes its ops notifier: live feed and MQTT)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        svc: ReconciliationService,
        interval_s: float = 3600.0,
        notifier: AlertSink | None = None,
    ):
        self.sessions = sessions
        self.svc = svc
        self.interval_s = interval_s
        self.notifier = notifier or FanOut()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> dict[str, int]:
        from central.models.registry import Site

        totals = {"sites": 0, "opened": 0, "tasks_opened": 0, "reminders": 0, "purged": 0}
        now = self.svc.clock.now()
        with self.sessions() as session:
            site_ids = list(session.scalars(select(Site.id)))
        for site_id in site_ids:
            with self.sessions.begin() as session:
                res = self.svc.rescore(session, site_id)
                sched = gridwork.schedule_rental_visits(session, self.svc.config.gridwork, site_id, now)
                overdue = reminders.push_overdue(session, site_id, now)
            self.notifier.publish(overdue.messages)  # after commit: nobody sees a rolled-back alert
            totals["sites"] += 1
            totals["opened"] += res.opened
            totals["tasks_opened"] += sched.opened
            totals["reminders"] += overdue.reminded
        with self.sessions.begin() as session:
            totals["purged"] = self.svc.purge(session)
        return totals

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:
                log.exception("reconciliation round failed; retried next interval")

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="reconciliation", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


def app_service(app: Any) -> ReconciliationService:
    """The app's one reconciliation service (shared with the router)."""

    extras: dict[str, Any] = app.state.services.extras
    svc = extras.get(EXTRA_KEY)
    if svc is None:
        svc = ReconciliationService(app.state.settings.reconciliation, app.state.clock)
        extras[EXTRA_KEY] = svc
    if not isinstance(svc, ReconciliationService):
        raise TypeError("app.state.services.extras['reconciliation'] is not a ReconciliationService")
    return svc


def chain(first: Callable[[list[Any]], Any], then: Callable[[list[Any]], Any]) -> Callable[[list[Any]], None]:
    """Call ``then`` (the ops ingestor) and ``first`` (reconciliation) with the same new events.

    The ingestor runs first and is never held back by a reconciliation failure (logged).
    """

    def on_events(events: list[Any]) -> None:
        then(events)
        try:
            first(events)
        except Exception:
            log.exception("reconciliation ingest failed for %d events", len(events))

    on_events.__reconciliation__ = True  # type: ignore[attr-defined]
    return on_events


async def start_reconciliation(app: Any) -> None:
    """Start-up hook (see the module docstring)."""
    from central.ingest import ops_runtime

    svc = app_service(app)
    hook = ReconciliationHook(app.state.session_factory, svc)
    runtime = ops_runtime(app)
    ingestor = runtime.ingestor
    if not getattr(ingestor.on_events, "__reconciliation__", False):
        # The gateway link takes ``runtime.ingestor.on_events`` when it starts; a link already
        # started holds the plain method, so its consumer is re-pointed too.
        ingestor.on_events = chain(hook.on_events, ingestor.on_events)  # type: ignore[method-assign,assignment]
    link = app.state.services.extras.get("gateway_link")
    consumer = getattr(link, "consumer", None)
    if consumer is not None and not getattr(consumer.on_events, "__reconciliation__", False):
        consumer.on_events = ingestor.on_events
    if app.state.settings.environment != "test":
        worker = ReconciliationWorker(app.state.session_factory, svc, notifier=runtime.notifier)
        app.state.services.extras["reconciliation_worker"] = worker
        worker.start()


async def stop_reconciliation(app: Any) -> None:
    worker = app.state.services.extras.pop("reconciliation_worker", None)
    if isinstance(worker, ReconciliationWorker):
        worker.stop()
