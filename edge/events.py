"""Building and sending the node's events.

Events get their common fields (id, per-node seq, site/node, capture time) from
the gateway's :class:`~gateway.edge_link.EventFactory` and go to the durable
outbox — through the :class:`~gateway.edge_link.EdgeLink` when the node has a
broker link, or straight into the outbox when it runs stand-alone (they wait
there until a link is configured). Local listeners (the demo's door display,
tests) see every event as it is made.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from contracts.messages import EventBase
from gateway.edge_link import EventFactory

log = logging.getLogger(__name__)

E = TypeVar("E", bound=EventBase)
Listener = Callable[[EventBase], None]


class EventEmitter:
    """One per node; thread-safe (workers, door supervision and the camera readers all emit)."""

    def __init__(self, factory: EventFactory, sink: Callable[[EventBase], None]) -> None:
        self._factory = factory
        self._sink = sink
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self.counts: dict[str, int] = {}

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, cls: type[E], captured_at: datetime | None = None, **fields: Any) -> E:
        # seq comes from the outbox and must reach it in order: make and store under one lock.
        with self._lock:
            event = self._factory.make(cls, captured_at, **fields)
            self._sink(event)
            kind = str(getattr(event, "kind", cls.__name__))
            self.counts[kind] = self.counts.get(kind, 0) + 1
        log.info("event %s seq=%d %s", kind, event.seq, _summary(event))
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")
        return event


def _summary(event: EventBase) -> str:
    keep = (
        "camera_id",
        "door_id",
        "person_id",
        "track_id",
        "state",
        "status",
        "reason",
        "counted",
        "authorised",
    )
    parts = [f"{k}={getattr(event, k)}" for k in keep if getattr(event, k, None) is not None]
    return " ".join(parts)
