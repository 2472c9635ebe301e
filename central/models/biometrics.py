"""Consent records, face templates, non-face credentials (QR/PIN) and background jobs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, IdMixin, UTCDateTime


class Consent(IdMixin, Base):
    """Consent to face recognition. For a child under 14 ``granted_by == "guardian"`` with the
    guardian named. A withdrawn consent keeps its row (the proof) with ``withdrawn_at`` set."""

    __tablename__ = "consents"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32), nullable=False, default="face_access")
    granted_by: Mapped[str] = mapped_column(String(16), nullable=False)  # self | guardian
    guardian_name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    guardian_relation: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    guardian_id_number: Mapped[str | None] = mapped_column(String(18), nullable=True)
    method: Mapped[str] = mapped_column(String(16), nullable=False, default="paper")  # paper | electronic
    document_ref: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withdrawn_reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")


class FaceTemplate(IdMixin, Base):
    """One embedding (float32 bytes) of a person, made by ``model_id``; only exists under a consent."""

    __tablename__ = "face_templates"
    # Covers the duplicate-scan cache's freshness check (count, newest, min/max id per model).
    __table_args__ = (Index("ix_face_templates_model_created_id", "model_id", "created_at", "id"),)

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String(64), nullable=False)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    vector: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    quality: Mapped[float] = mapped_column(Float, nullable=False)
    photo_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class PersonCredential(IdMixin, Base):
    """A non-face credential: ``qr`` (a signed resident pass, ``pass_id``) or ``pin`` (scrypt hash)."""

    __tablename__ = "person_credentials"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    pass_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    secret_hash: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Job(IdMixin, Base):
    """A background job (bulk enrolment, imports) with progress for ``GET /api/v1/jobs/{id}``."""

    __tablename__ = "jobs"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="queued"
    )  # queued/running/done/failed
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    report: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON list of row results
    error: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
