"""Door timing and supervision: grants, relock, held/forced open, fire release, tailgating.

:class:`DoorController` owns every door's state and is driven by :meth:`tick`
(called by its own thread every ``poll_s`` or directly by tests with a
FakeClock). A grant releases the lock for ``open_time_s``; further grants while
open extend it and raise the number of people authorised for that opening.
The contact input tells a door held open too long from one forced open without
a grant. An active fire alarm releases every door at once, keeps them released
and refuses to relock until the alarm clears (GB 50396 fire release).

Tailgating: each authorised opening is a session; cameras report the face
tracks they see at the door while it lasts (plus ``grace_s``); when it ends,
more distinct tracks than authorised people raise a tailgating report.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from anju.clock import Clock
from contracts.messages import DoorState
from edge.config import DoorConfig, TailgatingConfig
from edge.doors import DoorDriver, DoorError, FireAlarmInput

log = logging.getLogger(__name__)

StateCallback = Callable[[str, DoorState, str], None]


@dataclass
class OpeningSession:
    """One authorised opening of one door."""

    door_id: str
    started: float
    authorised_ids: list[str] = field(default_factory=list)
    tracks: dict[tuple[str, int], int] = field(default_factory=dict)  # (camera, track) → frames seen
    snapshot: bytes | None = None  # JPEG of the frame with most faces (policy permitting)
    snapshot_faces: int = 0
    camera_id: str | None = None
    ends_at: float | None = None

    @property
    def authorised(self) -> int:
        return len(self.authorised_ids)

    min_frames: int = 1

    @property
    def counted(self) -> int:
        return sum(1 for n in self.tracks.values() if n >= self.min_frames)


TailgateCallback = Callable[[OpeningSession], None]


@dataclass
class _Door:
    cfg: DoorConfig
    driver: DoorDriver
    released: bool = False
    relock_at: float | None = None
    contact_open: bool | None = False
    contact_open_since: float | None = None
    held_reported: bool = False
    session: OpeningSession | None = None
    grant_active: bool = False


class DoorController:
    """All doors of one node."""

    def __init__(
        self,
        doors: list[tuple[DoorConfig, DoorDriver]],
        fire: FireAlarmInput,
        clock: Clock,
        tailgating: TailgatingConfig,
        *,
        on_state: StateCallback,
        on_tailgating: TailgateCallback,
        poll_s: float = 0.05,
    ) -> None:
        self.clock = clock
        self.fire = fire
        self.tailgating = tailgating
        self._on_state = on_state
        self._on_tailgating = on_tailgating
        self.poll_s = poll_s
        self._doors = {cfg.id: _Door(cfg, drv) for cfg, drv in doors}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fire_active = False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        for door in self._doors.values():
            self._switch(door, False, "startup")
        self._thread = threading.Thread(target=self._run, name="doors", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        for door in self._doors.values():
            door.driver.close()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except Exception:
                log.exception("door supervision tick failed")

    def driver(self, door_id: str) -> DoorDriver:
        return self._doors[door_id].driver

    def is_released(self, door_id: str) -> bool:
        with self._lock:
            return self._doors[door_id].released

    # -- commands --------------------------------------------------------------------------------

    def grant(self, door_id: str, person_id: str, reason: str = "face", camera_id: str | None = None) -> bool:
        """Open ``door_id`` for one person; False if the door is unknown or the relay failed."""
        with self._lock:
            door = self._doors.get(door_id)
            if door is None:
                log.error("grant for unknown door %s", door_id)
                return False
            now = self.clock.monotonic()
            if door.session is None or door.session.ends_at is not None:
                if door.session is not None:
                    self._finish_session(door)
                door.session = OpeningSession(
                    door_id=door_id,
                    started=now,
                    camera_id=camera_id,
                    min_frames=self.tailgating.min_track_frames,
                )
            door.session.authorised_ids.append(person_id)
            door.relock_at = now + door.cfg.open_time_s
            door.grant_active = True
            return door.released or self._switch(door, True, reason)

    def lock(self, door_id: str, reason: str = "remote") -> None:
        with self._lock:
            door = self._doors[door_id]
            if self.fire_active:
                log.warning("door %s: lock refused during fire release", door_id)
                return
            door.relock_at = self.clock.monotonic()
        self.tick()

    # -- tailgating --------------------------------------------------------------------------------

    def observe_track(self, door_id: str, camera_id: str, track_id: int, faces_in_frame: int) -> bool:
        """A camera saw ``track_id`` at ``door_id``; True when an opening session is counting."""
        with self._lock:
            door = self._doors.get(door_id)
            if door is None or door.session is None or not self.tailgating.enabled:
                return False
            key = (camera_id, track_id)
            door.session.tracks[key] = door.session.tracks.get(key, 0) + 1
            return True

    def wants_snapshot(self, door_id: str, faces_in_frame: int) -> bool:
        with self._lock:
            door = self._doors.get(door_id)
            return bool(door and door.session and faces_in_frame > door.session.snapshot_faces)

    def offer_snapshot(self, door_id: str, faces_in_frame: int, jpeg: bytes) -> None:
        with self._lock:
            door = self._doors.get(door_id)
            if door and door.session and faces_in_frame > door.session.snapshot_faces:
                door.session.snapshot = jpeg
                door.session.snapshot_faces = faces_in_frame

    # -- supervision -----------------------------------------------------------------------------

    def tick(self) -> None:
        """Apply timers, contact and fire inputs once."""
        fire = self.fire.active()
        with self._lock:
            now = self.clock.monotonic()
            if fire and not self.fire_active:
                self.fire_active = True
                log.warning("FIRE ALARM: releasing every door")
                for door in self._doors.values():
                    self._switch(door, True, "fire alarm", force=True)
                    self._emit(door.cfg.id, DoorState.fire_release, "fire alarm active: door released")
            elif not fire and self.fire_active:
                self.fire_active = False
                log.warning("fire alarm cleared: doors return to normal")
                for door in self._doors.values():
                    door.relock_at = now
                    self._emit(door.cfg.id, DoorState.fire_restored, "fire alarm cleared")
            for door in self._doors.values():
                self._supervise(door, now)

    def _supervise(self, door: _Door, now: float) -> None:
        if not self.fire_active and door.released and door.relock_at is not None and now >= door.relock_at:
            door.relock_at = None
            door.grant_active = False
            self._switch(door, False, "open time elapsed")
            if door.session is not None and door.session.ends_at is None:
                door.session.ends_at = now + self.tailgating.grace_s
        try:
            contact = door.driver.contact_open()
        except DoorError as exc:
            log.warning("%s", exc)
            contact = None
        if contact is not None and contact != door.contact_open:
            door.contact_open = contact
            if contact:
                door.contact_open_since = now
                door.held_reported = False
                if not door.released and not self.fire_active:
                    self._emit(door.cfg.id, DoorState.forced_open, "door opened without a grant")
            else:
                door.contact_open_since = None
                if door.held_reported:
                    self._emit(door.cfg.id, DoorState.closed, "door closed after being held open")
        if (
            door.contact_open
            and door.contact_open_since is not None
            and not door.held_reported
            and not self.fire_active
            and now - door.contact_open_since >= door.cfg.held_open_s
        ):
            door.held_reported = True
            self._emit(door.cfg.id, DoorState.held_open, f"open longer than {door.cfg.held_open_s:.0f}s")
        if door.session is not None and door.session.ends_at is not None and now >= door.session.ends_at:
            self._finish_session(door)

    def _finish_session(self, door: _Door) -> None:
        session, door.session = door.session, None
        if session is None:
            return
        if self.tailgating.enabled and session.counted > session.authorised:
            log.warning(
                "tailgating at %s: %d people for %d authorised",
                door.cfg.id,
                session.counted,
                session.authorised,
            )
            try:
                self._on_tailgating(session)
            except Exception:
                log.exception("tailgating listener failed")

    def _switch(self, door: _Door, released: bool, reason: str, *, force: bool = False) -> bool:
        if door.released == released and not force:
            return True
        try:
            door.driver.set_released(released)
        except DoorError as exc:
            log.error("%s", exc)
            self._emit(door.cfg.id, DoorState.fault, str(exc)[:256])
            return False
        changed = door.released != released
        door.released = released
        if changed and not (self.fire_active and released):
            self._emit(door.cfg.id, DoorState.opened if released else DoorState.closed, reason)
        return True

    def _emit(self, door_id: str, state: DoorState, reason: str) -> None:
        try:
            self._on_state(door_id, state, reason)
        except Exception:
            log.exception("door state listener failed")
