"""Filling the fields every event carries (edge side)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, TypeVar

from anju.clock import Clock
from contracts.messages import EventBase
from gateway.outbox import Outbox

E = TypeVar("E", bound=EventBase)


class EventFactory:
    """Fills the fields every event carries: new id, next per-node seq, site/node ids, capture time."""

    def __init__(self, site_id: str, node_id: str, outbox: Outbox, clock: Clock) -> None:
        self.site_id = site_id
        self.node_id = node_id
        self._outbox = outbox
        self._clock = clock

    def fields(self, captured_at: datetime | None = None) -> dict[str, Any]:
        return {
            "event_id": uuid.uuid4(),
            "site_id": self.site_id,
            "node_id": self.node_id,
            "seq": self._outbox.next_seq(),
            "captured_at": captured_at if captured_at is not None else self._clock.now(),
        }

    def make(self, cls: type[E], captured_at: datetime | None = None, **fields: Any) -> E:
        """Build an event of type ``cls`` with the common fields filled in."""
        return cls(**self.fields(captured_at), **fields)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
