"""Face enrolment from photos: quality check with reasons, embedding with the site's model,
duplicate detection against other persons, template storage, counters.

The pipeline (``recognition.pipeline.FacePipeline``) is passed in; ``app_pipeline(app)`` builds
one per app from ``settings.enrolment.recognition`` on first use. Templates only exist under an
active consent (:mod:`central.services.consent`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.errors import Conflict, FieldError, PayloadTooLarge, ValidationFailed
from central.models.biometrics import Consent, FaceTemplate
from central.models.registry import Person
from central.services.consent import active_consent, notify_whitelist
from central.settings import EnrolmentSettings

log = logging.getLogger(__name__)
_pipeline_lock = threading.Lock()
_run_lock = threading.Lock()


@dataclass(frozen=True)
class DuplicateWarning:
    person_id: str
    score: float


@dataclass(frozen=True)
class EnrolResult:
    template: FaceTemplate
    quality: float
    duplicates: list[DuplicateWarning] = field(default_factory=list)


def app_pipeline(app: Any) -> Any:
    """The app's FacePipeline (loaded once, from ``settings.enrolment``)."""
    services = app.state.services
    with _pipeline_lock:
        if services.face_pipeline is None:
            from recognition.pipeline import FacePipeline

            cfg: EnrolmentSettings = app.state.settings.enrolment
            services.face_pipeline = FacePipeline.from_config(cfg.recognition, cfg.model_dir)
        return services.face_pipeline


def _photo_error(reason: str, en: str) -> ValidationFailed:
    return ValidationFailed(
        f"照片不可用：{reason}", f"photo rejected: {en}", [FieldError("photo", f"{reason} / {en}")]
    )


_QUALITY_ZH = {
    "too_small": "人脸太小",
    "blurry": "照片模糊",
    "yaw": "侧脸角度过大",
    "pitch": "抬头/低头角度过大",
    "low_detector_score": "人脸不清晰",
    "cut_off": "人脸不完整",
}


_SECOND_FACE_MIN_SCORE = 0.9  # see embed_photo


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def embed_photo(
    pipeline: Any, data: bytes, name: str, limits: EnrolmentSettings
) -> tuple[np.ndarray, float, str]:
    """Decode, check and embed the single face of a photo → (vector, quality score, model id)."""
    from recognition.imageio import ImageError, load_image
    from recognition.pipeline import frame_of

    if len(data) > limits.max_upload_bytes:
        raise PayloadTooLarge(
            "照片文件过大", f"photo over {limits.max_upload_bytes} bytes", [FieldError("photo", "too large")]
        )
    try:
        image = load_image(data, name=name)
    except ImageError as exc:
        raise _photo_error("无法读取图片", str(exc)) from exc
    with _run_lock:
        faces = pipeline.analyze(frame_of(image), embed=True)
    if not faces:
        raise _photo_error("未检测到人脸", "no face found")
    best = max(faces, key=lambda f: f.detection.width * f.detection.height)
    # Other faces that matter: confident detections, not overlapping the main face (the same face
    # found twice), and not tiny background faces. "Confident" is stricter than the detector's own
    # threshold: the RFB-320 detector sometimes scores background texture (paintings, foliage) at
    # 0.7-0.8, while a real second person in a photo scores above 0.9.
    others = [
        f
        for f in faces
        if f is not best
        and "low_detector_score" not in f.quality.reasons
        and f.detection.score >= _SECOND_FACE_MIN_SCORE
        and _iou(f.detection.box, best.detection.box) < 0.3
        and f.detection.width * f.detection.height > 0.25 * best.detection.width * best.detection.height
    ]
    if others:
        n = len(others) + 1
        raise _photo_error(f"照片中有{n}张人脸", f"{n} faces in the photo; use a single portrait")
    if best.quality.reasons:
        zh = "，".join(_QUALITY_ZH.get(r.split(":")[0], r) for r in best.quality.reasons)
        raise _photo_error(zh, "; ".join(best.quality.reasons))
    if best.embedding is None:
        raise _photo_error("无法提取特征", "no embedding")
    vec = np.asarray(best.embedding.vector, dtype=np.float32).reshape(-1)
    return vec, float(best.quality.score), str(best.embedding.model_id)


@dataclass
class _Matrix:
    signature: tuple[Any, ...]
    newest: datetime | None
    person_ids: list[str]
    matrix: np.ndarray


class TemplateCache:
    """An in-process copy of the stored templates of each model for duplicate scans.

    Before each scan one aggregate query (count, newest ``created_at``, min/max id) tells whether
    the copy is current; new rows are appended incrementally, anything else reloads. Reading
    100,000 templates from the database for every enrolment would take seconds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], _Matrix] = {}

    def _signature(self, session: Session, model_id: str) -> tuple[Any, ...]:
        row = session.execute(
            select(
                func.count(),
                func.max(FaceTemplate.created_at),
                func.min(FaceTemplate.id),
                func.max(FaceTemplate.id),
            ).where(FaceTemplate.model_id == model_id)
        ).one()
        return tuple(row)

    def _load(self, session: Session, model_id: str, after: datetime | None) -> tuple[list[str], np.ndarray]:
        q = select(FaceTemplate.person_id, FaceTemplate.vector).where(FaceTemplate.model_id == model_id)
        if after is not None:
            q = q.where(FaceTemplate.created_at > after)
        rows = session.execute(q).all()
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        return [r[0] for r in rows], np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
            len(rows), -1
        )

    def matrix(self, session: Session, model_id: str) -> _Matrix:
        key = (str(session.get_bind().engine.url), model_id)
        sig = self._signature(session, model_id)
        cur = self._models.get(key)
        if cur is not None and cur.signature == sig:
            return cur
        if cur is not None and cur.newest is not None and sig[0] > cur.signature[0]:
            pids, mat = self._load(session, model_id, cur.newest)
            if len(pids) + cur.signature[0] == sig[0] and (
                mat.size == 0 or mat.shape[1] == cur.matrix.shape[1]
            ):
                cur = _Matrix(
                    sig, sig[1], cur.person_ids + pids, np.vstack([cur.matrix, mat]) if pids else cur.matrix
                )
                self._models[key] = cur
                return cur
        pids, mat = self._load(session, model_id, None)
        cur = _Matrix(sig, sig[1], pids, mat)
        self._models[key] = cur
        return cur

    def scan(
        self, session: Session, model_id: str, vector: np.ndarray, exclude_person: str, threshold: float
    ) -> list[DuplicateWarning]:
        with self._lock:
            m = self.matrix(session, model_id)
            if not m.person_ids or m.matrix.shape[1] != vector.shape[0]:
                return []
            scores = m.matrix @ vector.astype(np.float32)
            hits = np.flatnonzero(scores >= threshold)
            best: dict[str, float] = {}
            for i in hits:
                pid = m.person_ids[int(i)]
                if pid != exclude_person and scores[i] > best.get(pid, -1.0):
                    best[pid] = float(scores[i])
        return sorted((DuplicateWarning(p, sc) for p, sc in best.items()), key=lambda d: -d.score)


TEMPLATE_CACHE = TemplateCache()


def find_duplicates(
    session: Session,
    site_id: str,
    person_id: str,
    model_id: str,
    vector: np.ndarray,
    threshold: float,
) -> list[DuplicateWarning]:
    """Other persons (any site: one face enrolled twice is a duplicate wherever it is) whose
    templates of ``model_id`` score ≥ ``threshold`` against ``vector``, best first."""
    return TEMPLATE_CACHE.scan(session, model_id, vector, person_id, threshold)


def enrol_photo(
    session: Session,
    person: Person,
    data: bytes,
    *,
    pipeline: Any,
    limits: EnrolmentSettings,
    now: datetime,
    name: str = "photo",
) -> EnrolResult:
    """Add one template for ``person`` from a photo (flushed, not committed).

    Raises Conflict without an active consent or when the person already has the maximum number
    of templates; ValidationFailed (field ``photo``) for unreadable or unusable photos.
    """
    consent: Consent | None = active_consent(session, person.id)
    if consent is None:
        raise Conflict(
            "须先登记本人（或监护人）同意书才能采集人脸",
            "consent must be recorded before enrolment",
            [FieldError("consent", "missing")],
        )
    count = session.scalar(select(func.count()).where(FaceTemplate.person_id == person.id)) or 0
    if count >= limits.max_templates_per_person:
        raise Conflict(
            "人脸模板数量已达上限", f"at most {limits.max_templates_per_person} templates per person"
        )
    vec, quality, model_id = embed_photo(pipeline, data, name, limits)
    dups = find_duplicates(session, person.site_id, person.id, model_id, vec, limits.duplicate_threshold)
    tpl = FaceTemplate(
        site_id=person.site_id,
        person_id=person.id,
        consent_id=consent.id,
        model_id=model_id,
        dim=int(vec.shape[0]),
        vector=vec.tobytes(),
        quality=quality,
        photo_sha256=hashlib.sha256(data).hexdigest(),
        created_at=now,
    )
    session.add(tpl)
    person.has_face = True
    person.updated_at = now
    notify_whitelist(session, person.site_id, person.id, "face enrolled")
    session.flush()
    return EnrolResult(tpl, quality, dups)


def delete_template(session: Session, person: Person, template: FaceTemplate, now: datetime) -> None:
    session.delete(template)
    session.flush()
    remaining = session.scalar(select(func.count()).where(FaceTemplate.person_id == person.id)) or 0
    person.has_face = remaining > 0
    person.updated_at = now
    notify_whitelist(session, person.site_id, person.id, "face template deleted")


@dataclass(frozen=True)
class FaceDataCount:
    persons_with_face: int
    site_persons_with_face: int | None
    threshold: int
    warning: bool
    message: str


def face_data_count(session: Session, limits: EnrolmentSettings, site_id: str | None = None) -> FaceDataCount:
    """People with face data, overall (the filing threshold counts the whole operator) and per site."""
    total = session.scalar(select(func.count(func.distinct(FaceTemplate.person_id)))) or 0
    site = None
    if site_id is not None:
        site = (
            session.scalar(
                select(func.count(func.distinct(FaceTemplate.person_id))).where(
                    FaceTemplate.site_id == site_id
                )
            )
            or 0
        )
    warn_at = int(limits.face_data_filing_threshold * limits.face_data_warning_ratio)
    warning = total >= warn_at
    msg = ""
    if total >= limits.face_data_filing_threshold:
        msg = f"人脸信息已达{total}人，超过{limits.face_data_filing_threshold}人须按规定向网信部门备案"
    elif warning:
        msg = f"人脸信息已达{total}人，接近{limits.face_data_filing_threshold}人备案门槛"
    return FaceDataCount(total, site, limits.face_data_filing_threshold, warning, msg)
