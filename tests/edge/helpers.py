"""Shared helpers for the edge tests: enrolment from real photos, configs, event collection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2

from contracts.messages import EventBase, PersonKind
from contracts.whitelist import Template, WhitelistPerson, WhitelistSnapshot
from edge.config import EdgeConfig
from recognition.pipeline import FacePipeline
from recognition.types import Frame

SHARED = Path(__file__).resolve().parents[3] / "shared"
CLIP = SHARED / "testdata" / "video" / "short_hamilton_clip.mp4"
EXAMPLES = SHARED / "testdata" / "examples"
SITE = "site-1"
NODE = "gate-1"

ENROL = {
    "lin-manuel-miranda": ("p-lmm", "lin-manuel-miranda.png"),
    "alex-lacamoire": ("p-alex", "alex-lacamoire.png"),
}


def embed_photo(pipeline: FacePipeline, path: Path) -> Any:
    image = cv2.imread(str(path))
    assert image is not None, path
    frame = Frame(image=image)
    dets = pipeline.detect(frame)
    assert dets, f"no face in {path}"
    det = max(dets, key=lambda d: d.width * d.height)
    return pipeline.embed([pipeline.align(frame, det)])[0].vector


def person(
    pipeline: FacePipeline, person_id: str, photo: str, kind: PersonKind = PersonKind.owner, **extra: Any
) -> WhitelistPerson:
    vec = embed_photo(pipeline, EXAMPLES / photo)
    return WhitelistPerson(
        person_id=person_id,
        kind=kind,
        templates=[Template.from_vector(pipeline.model_id, vec)],
        **extra,
    )


def snapshot(
    pipeline: FacePipeline,
    persons: list[WhitelistPerson],
    version: int = 1,
    issued_at: datetime | None = None,
) -> WhitelistSnapshot:
    return WhitelistSnapshot(
        site_id=SITE,
        version=version,
        issued_at=issued_at or datetime.now(timezone.utc),
        model_id=pipeline.model_id,
        persons=persons,
    )


def residents(pipeline: FacePipeline) -> list[WhitelistPerson]:
    return [person(pipeline, pid, photo) for pid, photo in ENROL.values()]


def edge_config(tmp_path: Path, cameras: list[dict[str, Any]], **extra: Any) -> EdgeConfig:
    data: dict[str, Any] = {
        "site_id": SITE,
        "node_id": NODE,
        "data_dir": str(tmp_path / "edge"),
        "cameras": cameras,
        "doors": [{"id": "door-1", "open_time_s": 1.0, "held_open_s": 2.0}],
        "metrics": {"port": 0},
    }
    data.update(extra)
    return EdgeConfig.model_validate(data)


class Collector:
    """Collects events; ``wait_for`` blocks (with a deadline) until a predicate holds."""

    def __init__(self) -> None:
        self.events: list[EventBase] = []
        self._cond = threading.Condition()

    def __call__(self, event: EventBase) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: str) -> list[Any]:
        with self._cond:
            return [e for e in self.events if getattr(e, "kind", None) == kind]

    def wait_for(self, pred: Callable[[list[EventBase]], bool], timeout: float = 60.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: pred(list(self.events)), timeout)


def load_face(name: str, height: int) -> Any:
    """A portrait from the examples, scaled to ``height`` pixels, BGR."""
    img = cv2.imread(str(EXAMPLES / name))
    assert img is not None, name
    scale = height / img.shape[0]
    return cv2.resize(img, (int(img.shape[1] * scale), height), interpolation=cv2.INTER_AREA)


def compose_video(
    path: Path, scenes: list[tuple[float, list[tuple[Any, int, int]]]], fps: float = 15.0
) -> Path:
    """Write an MP4: each scene is (seconds, [(image, x, y), ...]) over a grey background.

    Pasted images drift a pixel per frame, like a person walking up to the gate.
    """
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 360))
    assert writer.isOpened()
    for seconds, items in scenes:
        for i in range(int(seconds * fps)):
            frame = np.full((360, 640, 3), 110, np.uint8)
            for img, x, y in items:
                x0 = min(max(0, x + i // 2), 640 - img.shape[1])
                h, w = img.shape[:2]
                frame[y : y + h, x0 : x0 + w] = img[: 360 - y, : 640 - x0]
            writer.write(frame)
    writer.release()
    return path
