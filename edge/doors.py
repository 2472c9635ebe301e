"""Door relay drivers: GPIO (Raspberry Pi, gpiozero), HTTP relay boards, and a simulated door.

A driver only switches the lock relay and reads the door contact; timing
(open time, held-open, forced-open, fire release) lives in
:mod:`edge.door_control` so every driver behaves the same.

HTTP relay protocol (common on Ethernet relay boards and easy to put in front
of others): ``POST {url}/relay`` with JSON ``{"released": true|false}`` answers
2xx; ``GET {url}/contact`` answers ``{"open": true|false}`` (404 = no contact).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

import httpx

from anju.clock import Clock
from anju.errors import AnjuError
from edge.config import DoorConfig, FireAlarmConfig

log = logging.getLogger(__name__)


class DoorError(AnjuError):
    """A door driver could not be built or did not answer."""


class DoorDriver(Protocol):
    door_id: str

    def set_released(self, released: bool) -> None:
        """Release (True) or lock (False) the door; raises :class:`DoorError` on failure."""
        ...

    def contact_open(self) -> bool | None:
        """Door leaf open (True), closed (False), or None when no contact is wired."""
        ...

    def close(self) -> None: ...


class SimulatedDoor:
    """A door in memory: records every relay switch; the contact is set by tests or the demo.

    With ``auto_contact`` the leaf "swings" with the lock (opens on release,
    closes on relock), which is what a person walking through looks like.
    """

    def __init__(self, door_id: str, clock: Clock, *, auto_contact: bool = False) -> None:
        self.door_id = door_id
        self.clock = clock
        self.auto_contact = auto_contact
        self.released = False
        self.history: list[tuple[float, bool]] = []
        self._contact: bool | None = False
        self._lock = threading.Lock()
        self.opened = threading.Event()  # set on every release; tests wait on it

    def set_released(self, released: bool) -> None:
        with self._lock:
            self.released = released
            self.history.append((self.clock.monotonic(), released))
            if self.auto_contact:
                self._contact = released
        if released:
            self.opened.set()

    def contact_open(self) -> bool | None:
        with self._lock:
            return self._contact

    def set_contact(self, open_: bool | None) -> None:
        with self._lock:
            self._contact = open_

    @property
    def open_count(self) -> int:
        with self._lock:
            return sum(1 for _, r in self.history if r)

    def close(self) -> None:
        pass


class HttpRelayDoor:
    """A relay board reached over HTTP (see module docstring for the protocol)."""

    def __init__(self, cfg: DoorConfig, client: httpx.Client | None = None) -> None:
        if not cfg.http_url:
            raise DoorError(f"door {cfg.id}: driver http needs http_url")
        self.door_id = cfg.id
        self.base = cfg.http_url.rstrip("/")
        self._client = client or httpx.Client(timeout=cfg.http_timeout_s)
        self._has_contact = True

    def set_released(self, released: bool) -> None:
        try:
            resp = self._client.post(f"{self.base}/relay", json={"released": released})
        except httpx.HTTPError as exc:
            raise DoorError(f"door {self.door_id}: relay {self.base} unreachable: {exc}") from exc
        if resp.status_code // 100 != 2:
            raise DoorError(f"door {self.door_id}: relay answered HTTP {resp.status_code}")

    def contact_open(self) -> bool | None:
        if not self._has_contact:
            return None
        try:
            resp = self._client.get(f"{self.base}/contact")
        except httpx.HTTPError as exc:
            raise DoorError(f"door {self.door_id}: contact {self.base} unreachable: {exc}") from exc
        if resp.status_code == 404:
            self._has_contact = False
            return None
        if resp.status_code // 100 != 2:
            raise DoorError(f"door {self.door_id}: contact answered HTTP {resp.status_code}")
        body: Any = resp.json()
        if not isinstance(body, dict) or not isinstance(body.get("open"), bool):
            raise DoorError(f"door {self.door_id}: contact answer must be {{'open': bool}}, got {body!r}")
        return bool(body["open"])

    def close(self) -> None:
        self._client.close()


def _gpiozero() -> Any:
    try:
        import gpiozero
    except ImportError as exc:
        raise DoorError(
            "driver gpio needs the gpiozero package (pip install gpiozero) on a Raspberry Pi"
        ) from exc
    return gpiozero


class GpioRelayDoor:
    """Lock relay and door contact on Raspberry Pi GPIO pins (BCM numbering)."""

    def __init__(self, cfg: DoorConfig) -> None:
        if cfg.gpio_relay_pin is None:
            raise DoorError(f"door {cfg.id}: driver gpio needs gpio_relay_pin")
        gz = _gpiozero()
        self.door_id = cfg.id
        try:
            self._relay = gz.OutputDevice(
                cfg.gpio_relay_pin, active_high=cfg.gpio_active_high, initial_value=False
            )
            self._contact = (
                gz.DigitalInputDevice(cfg.gpio_contact_pin, pull_up=True)
                if cfg.gpio_contact_pin is not None
                else None
            )
        except Exception as exc:  # gpiozero raises many kinds when no pin factory / no GPIO exists
            raise DoorError(f"door {cfg.id}: cannot use GPIO pin {cfg.gpio_relay_pin}: {exc}") from exc

    def set_released(self, released: bool) -> None:
        if released:
            self._relay.on()
        else:
            self._relay.off()

    def contact_open(self) -> bool | None:
        if self._contact is None:
            return None
        # Reed contact to ground with pull-up: closed door pulls the pin low.
        return bool(self._contact.value)

    def close(self) -> None:
        self._relay.close()
        if self._contact is not None:
            self._contact.close()


def build_door(cfg: DoorConfig, clock: Clock) -> DoorDriver:
    if cfg.driver == "http":
        return HttpRelayDoor(cfg)
    if cfg.driver == "gpio":
        return GpioRelayDoor(cfg)
    return SimulatedDoor(cfg.id, clock)


class FireAlarmInput(Protocol):
    def active(self) -> bool: ...


class SimulatedFireAlarm:
    """A fire-alarm contact set by tests or the demo (also the 'no input wired' case)."""

    def __init__(self) -> None:
        self._active = threading.Event()

    def active(self) -> bool:
        return self._active.is_set()

    def set(self, active: bool) -> None:
        if active:
            self._active.set()
        else:
            self._active.clear()


class GpioFireAlarm:
    def __init__(self, cfg: FireAlarmConfig) -> None:
        if cfg.gpio_pin is None:
            raise DoorError("fire_alarm: driver gpio needs gpio_pin")
        gz = _gpiozero()
        try:
            self._input = gz.DigitalInputDevice(cfg.gpio_pin, pull_up=not cfg.active_high)
        except Exception as exc:
            raise DoorError(f"fire_alarm: cannot use GPIO pin {cfg.gpio_pin}: {exc}") from exc

    def active(self) -> bool:
        return bool(self._input.value)


def build_fire_alarm(cfg: FireAlarmConfig) -> FireAlarmInput:
    if cfg.enabled and cfg.driver == "gpio":
        return GpioFireAlarm(cfg)
    return SimulatedFireAlarm()
