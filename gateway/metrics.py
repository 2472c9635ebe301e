"""Prometheus counters for the central consumer (exposed by central's /metrics)."""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram


class GatewayMetrics:
    """One set per registry; tests pass their own :class:`CollectorRegistry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else REGISTRY
        self.received = Counter(
            "anju_gateway_messages_received", "MQTT messages taken by the central consumer", registry=reg
        )
        self.stored = Counter("anju_gateway_events_stored", "events stored for the first time", registry=reg)
        self.duplicates = Counter(
            "anju_gateway_events_duplicate", "events received again and not counted again", registry=reg
        )
        self.rejected = Counter(
            "anju_gateway_messages_rejected",
            "messages dead-lettered, by reason (bad_signature, replay_window, replay_seq, malformed, …)",
            ["reason"],
            registry=reg,
        )
        self.batch_seconds = Histogram(
            "anju_gateway_batch_seconds", "time to verify and store one batch", registry=reg
        )


_default: GatewayMetrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> GatewayMetrics:
    """The process-wide set on the default registry (created once)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = GatewayMetrics()
        return _default
