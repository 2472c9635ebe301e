"""EdgeNode: the one place that builds, starts and stops everything on a gate box.

Order matters: the cached whitelist is loaded before the cameras start (so the
gate opens for residents even when the network never comes up), events flow
into the durable outbox whether or not a broker is reachable, and doors are
locked at start-up and supervised (fire input first) before any worker can
ask to open them. Stopping goes the other way round with timed joins.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from anju.clock import Clock, SystemClock
from contracts.messages import (
    CameraStatusEvent,
    Credential,
    DoorState,
    DoorStateEvent,
    EventBase,
    PassEvent,
    PersonKind,
    TailgatingEvent,
)
from contracts.whitelist import DoorCommand, WhitelistDelta, WhitelistSnapshot
from edge.camera import CameraSource, CameraState
from edge.config import DecisionConfig, EdgeConfig, TrackingConfig
from edge.decision import AccessRules, DecisionMaker
from edge.door_control import DoorController, OpeningSession
from edge.doors import DoorDriver, FireAlarmInput, build_door, build_fire_alarm
from edge.events import EventEmitter
from edge.load import AnalysisLoad
from edge.metrics import EdgeMetrics
from edge.passes import PassVerifier, PinPad
from edge.privacy import SnapshotPolicy, TemplateStore, load_site_key
from edge.whitelist import LocalWhitelist
from edge.worker import CameraWorker
from gateway.edge_link import EdgeLink, EventFactory
from gateway.outbox import Outbox
from gateway.signing import load_public_key
from recognition.types import AlignedFace, Detection, Embedding, Frame, Liveness, Quality

log = logging.getLogger(__name__)


class FacePipelineLike(Protocol):
    """What a worker needs from :class:`recognition.pipeline.FacePipeline`."""

    @property
    def model_id(self) -> str: ...
    @property
    def match_threshold(self) -> float: ...
    def detect(self, frame: Frame) -> list[Detection]: ...
    def align(self, frame: Frame, det: Detection) -> AlignedFace: ...
    def quality(self, frame: Frame, det: Detection, aligned: AlignedFace | None = None) -> Quality: ...
    def embed(self, faces: list[AlignedFace]) -> list[Embedding]: ...
    def liveness(self, frame: Frame, det: Detection) -> Liveness: ...


PipelineFactory = Callable[[], FacePipelineLike]


@dataclass
class NodeServices:
    """The shared parts a camera worker uses (each thread-safe)."""

    clock: Clock
    metrics: EdgeMetrics
    decision_cfg: DecisionConfig
    tracking_cfg: TrackingConfig
    make_pipeline: PipelineFactory
    whitelist: LocalWhitelist
    decider: DecisionMaker
    doors: DoorController
    events: EventEmitter
    snapshots: SnapshotPolicy
    passes: PassVerifier | None
    qr_every_n: int
    match_threshold: float
    model_id: str
    liveness_threshold: float
    link: EdgeLink | None
    load: AnalysisLoad

    def whitelist_age_s(self) -> float:
        """How long the node has gone without a list confirmed by central (offline-first bound)."""
        age = self.whitelist.age_s()
        if self.link is not None:
            age = min(age, self.link.whitelist_age_s()) if self.whitelist.issued_at is not None else age
        return age

    def wall_time_of(self, mono: float) -> datetime:
        """Wall-clock time of a monotonic timestamp on this node's clock."""
        return self.clock.now() - timedelta(seconds=max(0.0, self.clock.monotonic() - mono))


def default_pipeline_factory(cfg: EdgeConfig) -> PipelineFactory:
    def make() -> FacePipelineLike:
        from recognition.pipeline import FacePipeline

        return FacePipeline.from_config(cfg.recognition, cfg.model_dir)

    return make


class EdgeNode:
    """A gate box. ``start()`` then ``stop()``; or use it as a context manager."""

    def __init__(
        self,
        cfg: EdgeConfig,
        *,
        clock: Clock | None = None,
        pipeline_factory: PipelineFactory | None = None,
        door_drivers: dict[str, DoorDriver] | None = None,
        fire_alarm: FireAlarmInput | None = None,
        link: EdgeLink | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock: Clock = clock or SystemClock()
        self.metrics = EdgeMetrics()
        make_pipeline = pipeline_factory or default_pipeline_factory(cfg)
        probe = make_pipeline()  # loads and verifies the models once, up front: a broken pack fails here
        self._first_pipeline: FacePipelineLike | None = probe

        def factory() -> FacePipelineLike:
            first, self._first_pipeline = self._first_pipeline, None
            return first if first is not None else make_pipeline()

        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        key = load_site_key(cfg.privacy.template_key_file) if cfg.privacy.template_key_file else None
        store = TemplateStore(cfg.data_dir / "whitelist.bin", key, cfg.site_id)
        threshold = (
            cfg.decision.match_threshold
            if cfg.decision.match_threshold is not None
            # A gate searches the whole whitelist (1:N): use the open-set threshold, not the 1:1 one.
            else getattr(probe, "open_set_threshold", probe.match_threshold)
        )
        dim = int(getattr(getattr(probe, "embedder", None), "dim", 512))
        self.whitelist = LocalWhitelist(cfg.site_id, probe.model_id, dim, threshold, self.clock, store)
        if self.whitelist.load_cached():
            log.info(
                "cached whitelist v%d loaded (%d persons)",
                self.whitelist.version,
                len(self.whitelist.persons),
            )

        self.outbox = Outbox(cfg.data_dir / "outbox.sqlite", cfg.outbox_max_bytes, self.clock)
        if link is None and cfg.gateway is not None:
            link = EdgeLink(cfg.gateway, self.outbox, clock=self.clock)
        self.link = link
        factory_events = (
            link.events
            if link is not None
            else EventFactory(cfg.site_id, cfg.node_id, self.outbox, self.clock)
        )
        sink: Callable[[Any], None] = link.publish if link is not None else self.outbox.put
        self.events = EventEmitter(factory_events, sink)

        drivers = dict(door_drivers or {})
        for dcfg in cfg.doors:
            if dcfg.id not in drivers:
                drivers[dcfg.id] = build_door(dcfg, self.clock)
        self.fire_alarm = fire_alarm or build_fire_alarm(cfg.fire_alarm)
        self.doors = DoorController(
            [(d, drivers[d.id]) for d in cfg.doors],
            self.fire_alarm,
            self.clock,
            cfg.tailgating,
            on_state=self._on_door_state,
            on_tailgating=self._on_tailgating,
        )
        self.snapshots = SnapshotPolicy(cfg.privacy, self.clock)
        self.pin_pad = (
            PinPad.from_file(cfg.passes.pin_codes_file)
            if cfg.passes.pin_enabled and cfg.passes.pin_codes_file is not None
            else None
        )
        self.passes = self._build_pass_verifier()
        lthr = float(getattr(cfg.recognition, "liveness_threshold", 0.5))
        self.services = NodeServices(
            clock=self.clock,
            metrics=self.metrics,
            decision_cfg=cfg.decision,
            tracking_cfg=cfg.tracking,
            make_pipeline=factory,
            whitelist=self.whitelist,
            decider=DecisionMaker(cfg.decision, AccessRules(cfg.timezone), match_threshold=threshold),
            doors=self.doors,
            events=self.events,
            snapshots=self.snapshots,
            passes=self.passes,
            qr_every_n=cfg.passes.qr_every_n_frames,
            match_threshold=threshold,
            model_id=probe.model_id,
            liveness_threshold=lthr,
            link=link,
            load=AnalysisLoad(self.clock),
        )
        self.sources: dict[str, CameraSource] = {}
        self.workers: dict[str, CameraWorker] = {}
        for cam in cfg.cameras:
            self.sources[cam.id] = CameraSource(cam, self.clock, on_status=self._on_camera_status)
            self.workers[cam.id] = CameraWorker(cam, self.sources[cam.id], self.services)
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._wl_thread: threading.Thread | None = None
        self._wl_queue: queue.Queue[WhitelistSnapshot | WhitelistDelta] = queue.Queue(maxsize=64)
        self._started = False
        if link is not None:
            link.on_whitelist(self._on_whitelist)
            link.on_door_command(self._on_door_command)
            self.whitelist.on_applied(link.report_whitelist_version)

    def _build_pass_verifier(self) -> PassVerifier | None:
        pcfg = self.cfg.passes
        if not pcfg.qr_enabled:
            return None
        paths = list(pcfg.central_public_keys)
        if not paths and self.cfg.gateway is not None:
            paths = list(self.cfg.gateway.central_public_keys)
        keys = [load_public_key(p) for p in paths]
        if not keys:
            log.warning("QR passes enabled but no central public key configured: passes will be refused")
        return PassVerifier(self.cfg.site_id, keys, pcfg.max_offline_validity_s)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.metrics.serve(self.cfg.metrics)
        self.doors.start()
        if self.link is not None:
            self.link.start()
            if self.whitelist.version:
                self.link.report_whitelist_version(self.whitelist.version)
        for cam_id, worker in self.workers.items():
            self.sources[cam_id].start()
            worker.start()
        self._stop.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="edge-supervisor", daemon=True)
        self._supervisor.start()
        self._wl_thread = threading.Thread(target=self._whitelist_loop, name="edge-whitelist", daemon=True)
        self._wl_thread.start()
        log.info(
            "edge node %s/%s started: %d camera(s), %d door(s)",
            self.cfg.site_id,
            self.cfg.node_id,
            len(self.workers),
            len(self.cfg.doors),
        )

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(5.0)
        if self._wl_thread is not None:
            self._wl_thread.join(5.0)
        for cam_id, worker in self.workers.items():
            self.sources[cam_id].stop()
            worker.stop()
        self.doors.stop()
        if self.link is not None:
            self.link.stop()
        self.metrics.close()
        self.outbox.close()
        log.info("edge node stopped")

    def __enter__(self) -> EdgeNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _supervise(self) -> None:
        purge_every = 3600.0
        last_purge = self.clock.monotonic()
        while not self._stop.wait(0.5):
            for cam_id, source in self.sources.items():
                source.check_stall()
                self.metrics.fps.labels(cam_id).set(source.fps_estimate)
            if self.link is not None:
                online = sum(1 for s in self.sources.values() if s.state == "online")
                self.link.set_camera_counts(online, len(self.sources))
            if self.clock.monotonic() - last_purge >= purge_every:
                last_purge = self.clock.monotonic()
                self.snapshots.purge()

    # -- inputs ----------------------------------------------------------------------------------

    def apply_whitelist(self, message: WhitelistSnapshot | WhitelistDelta) -> None:
        """Apply a verified whitelist (the gateway's callback; also enrolment in tests and the demo)."""
        self.whitelist.apply(message)

    def _on_whitelist(self, message: WhitelistSnapshot | WhitelistDelta) -> None:
        # Called on the MQTT network thread: building an index and sealing the cache can take a
        # while, so updates are applied in order on the node's own whitelist thread.
        try:
            self._wl_queue.put_nowait(message)
        except queue.Full:
            log.error(
                "whitelist v%d dropped: %d updates already waiting", message.version, self._wl_queue.qsize()
            )

    def _apply_logged(self, message: WhitelistSnapshot | WhitelistDelta) -> None:
        try:
            self.whitelist.apply(message)
        except Exception as exc:
            # The version report keeps central informed; a refused delta is answered with a snapshot.
            log.error("whitelist v%d not applied: %s", message.version, exc)

    def _whitelist_loop(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._wl_queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self._apply_logged(message)

    def _on_door_command(self, cmd: DoorCommand) -> None:
        if cmd.node_id != self.cfg.node_id:
            return
        if cmd.door_id not in {d.id for d in self.cfg.doors}:
            log.error("door command %s for unknown door %s", cmd.command_id, cmd.door_id)
            return
        now = self.clock.now()
        expires = cmd.expires_at if cmd.expires_at.tzinfo else cmd.expires_at.replace(tzinfo=now.tzinfo)
        if now > expires:
            log.warning("door command %s expired at %s: ignored", cmd.command_id, cmd.expires_at)
            return
        if cmd.action == "lock":
            self.doors.lock(cmd.door_id, reason=f"remote lock by {cmd.requested_by}")
            state = DoorState.closed
        else:
            self.doors.grant(cmd.door_id, f"remote:{cmd.requested_by}", reason="remote")
            state = DoorState.opened
        self.events.emit(
            DoorStateEvent,
            door_id=cmd.door_id,
            state=state,
            reason=f"remote {cmd.action} by {cmd.requested_by}: {cmd.reason}"[:256],
            command_id=cmd.command_id,
        )

    # -- event callbacks ---------------------------------------------------------------------------

    def _on_camera_status(self, camera_id: str, state: CameraState, detail: str) -> None:
        self.metrics.online.labels(camera_id).set(1 if state == "online" else 0)
        if state == "reconnecting":
            self.metrics.reconnects.labels(camera_id).inc()
        source = self.sources.get(camera_id)
        fps = source.fps_estimate if source is not None else None
        self.events.emit(CameraStatusEvent, camera_id=camera_id, status=state, fps=fps, detail=detail[:512])

    def _on_door_state(self, door_id: str, state: DoorState, reason: str) -> None:
        if state in (DoorState.opened, DoorState.fire_release):
            self.metrics.door_open.labels(door_id).set(1)
        elif state in (DoorState.closed, DoorState.fire_restored):
            self.metrics.door_open.labels(door_id).set(0)
        if state in (DoorState.opened, DoorState.closed) and reason.startswith(
            ("face ", "open time", "qr pass")
        ):
            # Routine open/close cycles are implied by the pass events; only exceptions travel.
            log.debug("door %s %s (%s)", door_id, state.value, reason)
            return
        self.events.emit(DoorStateEvent, door_id=door_id, state=state, reason=reason[:256])

    def _on_tailgating(self, session: OpeningSession) -> None:
        cam = next((c for c in self.cfg.cameras if c.id == session.camera_id), None)
        snapshot = self.snapshots.wrap(
            "tailgating", session.snapshot, f"{session.door_id}-{session.started:.0f}"
        )
        self.events.emit(
            TailgatingEvent,
            camera_id=session.camera_id or (cam.id if cam else "unknown"),
            zone_id=cam.zone_id if cam else None,
            ring=cam.ring if cam else None,
            door_id=session.door_id,
            authorised=session.authorised,
            counted=session.counted,
            person_ids=[p for p in session.authorised_ids if not p.startswith("remote:")][:32],
            snapshot=snapshot,
        )

    def pin_key(self, door_id: str, key: str) -> bool | None:
        """One keypress from the PIN pad at ``door_id`` (the keypad driver calls this).

        Returns None while digits are collected, then whether the PIN opened the door.
        """
        if self.pin_pad is None:
            return None
        result = self.pin_pad.key(door_id, key, self.clock.monotonic())
        if result is None:
            return None
        cam = next((c for c in self.cfg.cameras if c.door_id == door_id), None)
        if not result:
            log.warning("door %s: wrong PIN", door_id)
            return False
        self.doors.grant(door_id, f"pin:{door_id}", reason="pin", camera_id=cam.id if cam else None)
        self.events.emit(
            PassEvent,
            camera_id=cam.id if cam else door_id,
            zone_id=cam.zone_id if cam else None,
            ring=cam.ring if cam else None,
            person_id=f"pin:{door_id}"[:64],
            person_kind=PersonKind.owner,
            door_id=door_id,
            credential=Credential.pin,
        )
        return True

    # -- helpers for the demo and tests --------------------------------------------------------------

    def add_event_listener(self, listener: Callable[[EventBase], None]) -> None:
        self.events.add_listener(listener)
