"""The edge node's configuration: one YAML file, one slice per component.

``EdgeConfig`` is the root; each part of the node receives only its own slice
(a camera worker its :class:`CameraConfig`, a door driver its
:class:`DoorConfig`, the gateway link ``gateway``, the face pipeline
``recognition``). Cross-field rules (a camera bound to a door that exists,
unique ids) live in model validators so a bad file fails at load time with the
offending key named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from anju.config import StrictModel, load_yaml
from contracts.messages import ID_PATTERN
from gateway.config import EdgeLinkConfig
from recognition.config import RecognitionConfig

SnapshotKind = Literal["stranger", "watchlist_hit", "tailgating", "liveness_failure"]


def _default_snapshot_kinds() -> list[SnapshotKind]:
    return ["watchlist_hit", "tailgating"]


class CameraConfig(StrictModel):
    """One camera: where frames come from and where it looks."""

    id: str = Field(pattern=ID_PATTERN, description="camera id, unique on the node")
    source: Literal["rtsp", "file", "usb"] = Field(description="rtsp URL, video file, or USB device index")
    url: str = Field(min_length=1, description="rtsp://…, a file path, or the USB device index (e.g. '0')")
    rtsp_transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTSP transport; TCP survives lossy Wi-Fi links without smeared frames"
    )
    loop: bool = Field(False, description="file sources: start again at the end (demo, tests)")
    realtime: bool = Field(True, description="file sources: deliver frames at the file's own rate")
    detect_fps: float = Field(10.0, gt=0, le=60, description="analysed frames per second, always kept")
    max_detect_fps: float = Field(
        30.0,
        gt=0,
        le=60,
        description="analyse up to this rate (the camera's own at most) while the node has spare CPU "
        "(see cpu_budget): a face walking in is seen a frame or two after it appears",
    )
    cpu_budget: float = Field(
        0.5,
        ge=0,
        le=1,
        description="frames above detect_fps only while the camera workers use less than this share of "
        "all cores (0 = never above detect_fps)",
    )
    ring: int = Field(1, ge=1, le=4, description="control ring of the zone this camera guards")
    zone_id: str | None = Field(None, pattern=ID_PATTERN, description="zone the camera's door leads into")
    direction: Literal["in", "out", "unknown"] = Field("in", description="direction of people facing it")
    door_id: str | None = Field(None, pattern=ID_PATTERN, description="door this camera opens")
    stall_timeout_s: float = Field(5.0, gt=0, le=300, description="no frame for this long → restart")
    open_timeout_s: float = Field(
        5.0,
        gt=0,
        le=120,
        description="give up opening an RTSP stream after this long (slow servers, WAN links)",
    )
    reconnect_initial_s: float = Field(0.5, gt=0, le=60, description="first reconnect wait")
    reconnect_max_s: float = Field(10.0, gt=0, le=600, description="reconnect wait cap (exponential backoff)")
    min_face_px: int = Field(40, ge=16, le=1000, description="ignore faces narrower than this")
    read_qr: bool = Field(True, description="look for QR passes in this camera's frames")

    @model_validator(mode="after")
    def _check(self) -> CameraConfig:
        if self.source == "usb" and not self.url.isdigit():
            raise ValueError("usb cameras take the device index as url, e.g. '0'")
        if self.source == "rtsp" and not self.url.startswith(("rtsp://", "rtsps://")):
            raise ValueError("rtsp cameras need a url starting with rtsp://")
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be ≥ reconnect_initial_s")
        return self


class DoorConfig(StrictModel):
    """One door and the relay that drives its lock."""

    id: str = Field(pattern=ID_PATTERN, description="door id, unique on the node")
    driver: Literal["simulated", "http", "gpio"] = Field("simulated", description="relay driver")
    open_time_s: float = Field(5.0, gt=0, le=120, description="how long the lock stays released per grant")
    held_open_s: float = Field(30.0, gt=0, le=3600, description="contact open longer → held-open alert")
    # HTTP relay
    http_url: str | None = Field(None, description="http relay base URL (driver http)")
    http_timeout_s: float = Field(2.0, gt=0, le=30, description="http relay request timeout")
    # GPIO relay (Raspberry Pi)
    gpio_relay_pin: int | None = Field(None, ge=0, le=40, description="BCM pin of the lock relay")
    gpio_active_high: bool = Field(True, description="relay energised by a high output")
    gpio_contact_pin: int | None = Field(None, ge=0, le=40, description="BCM pin of the door contact")

    @model_validator(mode="after")
    def _check(self) -> DoorConfig:
        if self.driver == "http" and not self.http_url:
            raise ValueError("driver http needs http_url")
        if self.http_url and not self.http_url.startswith(("http://", "https://")):
            raise ValueError("http_url must start with http:// or https://")
        if self.driver == "gpio" and self.gpio_relay_pin is None:
            raise ValueError("driver gpio needs gpio_relay_pin")
        return self


class FireAlarmConfig(StrictModel):
    """The fire-alarm input: when active every door is released (GB 50396)."""

    enabled: bool = Field(False, description="a fire-alarm input is wired")
    driver: Literal["simulated", "gpio"] = Field("simulated", description="input driver")
    gpio_pin: int | None = Field(None, ge=0, le=40, description="BCM pin of the fire-alarm contact")
    active_high: bool = Field(True, description="alarm when the input reads high")


class DecisionConfig(StrictModel):
    """How much evidence opens a door."""

    min_consistent_matches: int = Field(
        2,
        ge=1,
        le=20,
        description="looks of one person needed: same top-1, one at or above the threshold, the others at "
        "or above threshold - consistent_margin",
    )
    consistent_margin: float = Field(
        0.004,
        ge=0,
        le=0.1,
        description="how far below the threshold the other consistent looks may score (0 = every look at "
        "or above it); 0.004 = the largest margin that kept LFW false accepts at the previous rule's "
        "(chosen on half the people, checked on the other half: docs/edge.md)",
    )
    evidence_window_s: float = Field(2.0, gt=0, le=30, description="matches older than this are forgotten")
    match_threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="override the model's 1:N threshold (None = the pack's open-set threshold)",
    )
    watchlist_threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="watchlist hits need this similarity, ≥ the match threshold (None = match threshold)",
    )
    strong_match_score: float | None = Field(
        0.5,
        ge=-1,
        le=1,
        description="one live match at or above this decides alone (None = always N matches)",
    )
    stranger_after_s: float = Field(1.0, gt=0, le=60, description="unmatched this long → stranger")
    min_quality: float = Field(0.25, ge=0, le=1, description="faces below this quality are not embedded")
    quality_improvement: float = Field(
        0.05, ge=0, le=1, description="re-embed a track only if this much better"
    )
    reembed_interval_s: float = Field(
        0.0, ge=0, le=10, description="collect new evidence for an undecided track at most this often"
    )
    embed_threads: int = Field(
        2, ge=0, le=8, description="embedding threads per camera: consecutive looks at a new face overlap"
    )
    max_embeds_per_frame: int = Field(
        2, ge=1, le=64, description="embed at most this many faces per frame (the others wait a frame)"
    )
    pooling: bool = Field(
        False,
        description="also match by template pooling: min_consistent_matches looks with the same top-1 "
        "person whose pooled (mean, re-normalised) embedding scores at or above threshold + pooled_margin",
    )
    pooled_margin: float = Field(
        0.045,
        ge=0,
        le=1,
        description="pooled scores run higher than single looks: at the bare threshold pooling took 8x "
        "more impostors on LFW; +0.045 gives the 2-look rule's false-accept rate (docs/edge.md)",
    )
    look_again_margin: float = Field(
        0.1,
        ge=0,
        le=1,
        description="an undecided track whose best look scored within this of the threshold keeps being "
        "looked at (and liveness-checked) until stranger_after_s; further from it, N looks suffice",
    )
    burst_when_undecided: bool = Field(
        True, description="analyse frames back to back (above detect_fps) while a face is undecided"
    )
    require_liveness: bool = Field(True, description="check liveness before opening")
    liveness_failures_to_deny: int = Field(2, ge=1, le=20, description="failures before deny + alert")
    regrant_after_s: float = Field(10.0, ge=0, le=3600, description="same person, same door: no new event")
    max_offline_s: float = Field(
        7 * 24 * 3600.0, gt=0, description="cached whitelist older than this no longer opens doors"
    )


class TrackingConfig(StrictModel):
    iou_threshold: float = Field(0.25, gt=0, lt=1, description="box overlap to continue a track")
    max_age_s: float = Field(1.0, gt=0, le=30, description="track ends after this long unseen")
    max_centroid_jump: float = Field(
        0.6, gt=0, le=5, description="centroid match allowed within this many face widths"
    )


class TailgatingConfig(StrictModel):
    enabled: bool = Field(True, description="count faces per authorised opening")
    grace_s: float = Field(1.0, ge=0, le=30, description="keep counting this long after the door closes")
    min_track_frames: int = Field(2, ge=1, le=100, description="a face counts after this many frames")


class PrivacyConfig(StrictModel):
    """What biometric data may be kept or sent."""

    snapshot_kinds: list[SnapshotKind] = Field(
        default_factory=_default_snapshot_kinds,
        description="event kinds that may carry a face snapshot",
    )
    snapshot_dir: Path | None = Field(None, description="keep snapshots here locally (None = not kept)")
    snapshot_retention_s: float = Field(7 * 24 * 3600.0, gt=0, description="delete kept snapshots after")
    snapshot_max_px: int = Field(480, ge=64, le=1920, description="snapshot longest side")
    reconciliation: bool = Field(False, description="send stranger embeddings for 一标三实 reconciliation")
    template_key_file: Path | None = Field(
        None, description="32-byte site key (raw or hex); templates on disk are AES-GCM encrypted with it"
    )


class PassesConfig(StrictModel):
    """QR passes and PIN pad."""

    qr_enabled: bool = Field(True, description="read signed QR passes from gate cameras")
    central_public_keys: list[Path] = Field(
        default_factory=list,
        description="central's Ed25519 public keys (PEM) signing passes; empty = gateway's",
    )
    max_offline_validity_s: float = Field(
        24 * 3600.0, gt=0, description="a pass is refused when the node's lists are older than this"
    )
    qr_every_n_frames: int = Field(3, ge=1, le=100, description="look for QR codes every Nth analysed frame")
    pin_enabled: bool = Field(False, description="a PIN pad is attached")
    pin_codes_file: Path | None = Field(None, description="file of salted PIN hashes (door_id pin_hash)")


class MetricsConfig(StrictModel):
    enabled: bool = Field(True, description="serve Prometheus metrics")
    host: str = Field("127.0.0.1", description="bind address")
    port: int = Field(9108, ge=0, le=65535, description="0 = any free port")


class EdgeConfig(StrictModel):
    """Root of ``edge.yaml``."""

    site_id: str = Field(pattern=ID_PATTERN, description="site (compound) id")
    node_id: str = Field(pattern=ID_PATTERN, description="this gate box's id")
    data_dir: Path = Field(Path("/var/lib/anju/edge"), description="index, outbox, snapshots")
    model_dir: Path | None = Field(None, description="model cache (None = the default cache)")
    cameras: list[CameraConfig] = Field(default_factory=list)
    doors: list[DoorConfig] = Field(default_factory=list)
    fire_alarm: FireAlarmConfig = Field(default_factory=FireAlarmConfig)
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    tailgating: TailgatingConfig = Field(default_factory=TailgatingConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    passes: PassesConfig = Field(default_factory=PassesConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    timezone: str = Field("Asia/Shanghai", description="site time zone for access windows")
    gateway: EdgeLinkConfig | None = Field(
        None, description="MQTT link to central (None = events stay local)"
    )
    outbox_max_bytes: int = Field(256 * 1024 * 1024, ge=4096, description="disk bound of the event outbox")
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig, description="face pipeline")

    @model_validator(mode="after")
    def _check(self) -> EdgeConfig:
        cam_ids = [c.id for c in self.cameras]
        door_ids = [d.id for d in self.doors]
        for label, ids in (("cameras", cam_ids), ("doors", door_ids)):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"{label}: duplicate id(s) {', '.join(dup)}")
        if self.gateway is not None and (self.gateway.site_id, self.gateway.node_id) != (
            self.site_id,
            self.node_id,
        ):
            raise ValueError("gateway.site_id/node_id must equal site_id/node_id")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone {self.timezone!r} is not a known IANA time zone") from exc
        for cam in self.cameras:
            if cam.door_id is not None and cam.door_id not in door_ids:
                raise ValueError(f"camera {cam.id}: door_id {cam.door_id!r} is not one of doors {door_ids}")
        return self

    def door(self, door_id: str) -> DoorConfig:
        for d in self.doors:
            if d.id == door_id:
                return d
        raise KeyError(door_id)


def load_edge_config(path: Path) -> EdgeConfig:
    """Read and validate ``path``; raises :class:`anju.config.ConfigError` naming file and key."""
    return load_yaml(path, EdgeConfig)
