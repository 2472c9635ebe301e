"""Face tracking across frames: greedy IoU matching with a centroid fallback.

At 5-15 analysed frames/s a walking face moves a fraction of its own width
between frames, so box overlap is enough most of the time; when a frame is
skipped the overlap can vanish, and the centroid distance (in face widths)
catches it. Time comes from the caller (the frame's timestamp on the injected
clock) so tests can drive track expiry without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass

from recognition.types import Detection


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)
    if inter <= 0:
        return 0.0
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area_a + area_b - inter)


def _centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


@dataclass
class Track:
    """One face followed over time."""

    track_id: int
    detection: Detection
    first_seen: float
    last_seen: float
    hits: int = 1

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.detection.box


class FaceTracker:
    """Assigns detections to tracks; ``update`` returns (live tracks matched this frame, ended tracks)."""

    def __init__(self, *, iou_threshold: float = 0.25, max_age_s: float = 1.0, max_jump: float = 0.6) -> None:
        self.iou_threshold = iou_threshold
        self.max_age_s = max_age_s
        self.max_jump = max_jump
        self._tracks: dict[int, Track] = {}
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks.values())

    def update(self, detections: list[Detection], now: float) -> tuple[list[Track], list[Track]]:
        pairs: list[tuple[float, int, int]] = []
        for di, det in enumerate(detections):
            for tid, trk in self._tracks.items():
                score = iou(det.box, trk.box)
                if score < self.iou_threshold:
                    # Centroid fallback: distance in face widths, turned into a score below any IoU match.
                    (cx, cy), (tx, ty) = _centre(det.box), _centre(trk.box)
                    width = max(1.0, (det.width + trk.detection.width) / 2)
                    jump = ((cx - tx) ** 2 + (cy - ty) ** 2) ** 0.5 / width
                    if jump > self.max_jump:
                        continue
                    score = (1.0 - jump / self.max_jump) * self.iou_threshold * 0.99
                pairs.append((score, di, tid))
        pairs.sort(reverse=True)
        used_d: set[int] = set()
        used_t: set[int] = set()
        matched: list[Track] = []
        for _score, di, tid in pairs:
            if di in used_d or tid in used_t:
                continue
            used_d.add(di)
            used_t.add(tid)
            trk = self._tracks[tid]
            trk.detection = detections[di]
            trk.last_seen = now
            trk.hits += 1
            matched.append(trk)
        for di, det in enumerate(detections):
            if di in used_d:
                continue
            trk = Track(track_id=self._next_id, detection=det, first_seen=now, last_seen=now)
            self._next_id += 1
            self._tracks[trk.track_id] = trk
            matched.append(trk)
        ended = [t for t in self._tracks.values() if now - t.last_seen > self.max_age_s]
        for trk in ended:
            del self._tracks[trk.track_id]
        return matched, ended

    def flush(self) -> list[Track]:
        """End every track (camera stopped or restarted)."""
        ended = list(self._tracks.values())
        self._tracks.clear()
        return ended
