"""The ingest hook: the gateway consumer's newly stored events → reconciliation, in one transaction.

Central wires ``ReconciliationHook(session_factory, service).on_events`` next to its
ingestor's ``on_events`` (both take the list of newly stored events).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from central.reconciliation.service import IngestResult, ReconciliationService

log = logging.getLogger(__name__)


class ReconciliationHook:
    def __init__(self, sessions: sessionmaker[Session], service: ReconciliationService) -> None:
        self.sessions = sessions
        self.service = service

    def on_events(self, events: Sequence[Any]) -> IngestResult:
        if not events or not self.service.config.enabled:
            return IngestResult()
        try:
            with self.sessions.begin() as session:
                return self.service.ingest(session, events)
        except Exception:
            # The transaction rolled back: drop the in-memory clusters so they are reloaded
            # from what the database really holds.
            self.service.forget()
            raise
