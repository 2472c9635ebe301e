"""Prometheus metrics of the edge node, per camera.

A private registry per node (several nodes can live in one test process) served
on ``metrics.host:metrics.port``.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from edge.config import MetricsConfig

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)


class EdgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.fps = Gauge("anju_edge_camera_fps", "frames decoded per second", ["camera"], registry=r)
        self.analysed_fps = Gauge(
            "anju_edge_analysed_fps", "frames analysed per second", ["camera"], registry=r
        )
        self.decode_seconds = Histogram(
            "anju_edge_decode_seconds",
            "frame read+decode time",
            ["camera"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.detect_seconds = Histogram(
            "anju_edge_detect_seconds",
            "face detection time per frame",
            ["camera"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.embed_seconds = Histogram(
            "anju_edge_embed_seconds",
            "embedding time per batch",
            ["camera"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decision_seconds = Histogram(
            "anju_edge_decision_seconds",
            "first analysed frame of a track → decision",
            ["camera", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.dropped = Counter(
            "anju_edge_frames_dropped_total", "frames never analysed (stale)", ["camera"], registry=r
        )
        self.analysed = Counter("anju_edge_frames_analysed_total", "frames analysed", ["camera"], registry=r)
        self.embeddings = Counter("anju_edge_embeddings_total", "faces embedded", ["camera"], registry=r)
        self.faces = Counter("anju_edge_faces_total", "faces detected", ["camera"], registry=r)
        self.reconnects = Counter(
            "anju_edge_camera_reconnects_total", "stream reconnects", ["camera"], registry=r
        )
        self.online = Gauge(
            "anju_edge_camera_online", "1 when the camera delivers frames", ["camera"], registry=r
        )
        self.decisions = Counter(
            "anju_edge_decisions_total", "door decisions", ["camera", "outcome"], registry=r
        )
        self.door_open = Gauge(
            "anju_edge_door_released", "1 while the lock is released", ["door"], registry=r
        )
        self._server: Any = None
        self.port: int | None = None

    def serve(self, cfg: MetricsConfig) -> int | None:
        if not cfg.enabled:
            return None
        server, _thread = start_http_server(cfg.port, addr=cfg.host, registry=self.registry)
        self._server = server
        self.port = int(server.server_port)
        log.info("metrics on http://%s:%d/metrics", cfg.host, self.port)
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
