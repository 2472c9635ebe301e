"""Settings of the central service.

Values come, in increasing priority, from the defaults here, an optional YAML file
(``anju central serve --config FILE``) and environment variables prefixed ``ANJU_``
(``ANJU_DATABASE_URL``, ``ANJU_DATA_DIR``, ``ANJU_SECRET_KEY``; nested keys with
``__``, e.g. ``ANJU_AUDIT__RETENTION_DAYS``). Outside ``development`` the secret key
must be changed from its default and be long enough, else :class:`SettingsError`.
Nothing here is read at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from anju.config import ConfigError, StrictModel, format_validation_error, load_yaml
from central.reconciliation.config import ReconciliationConfig
from recognition.config import RecognitionConfig

DEFAULT_SECRET = "change-me-development-only"


class SettingsError(ConfigError):
    """The central settings are invalid or unsafe; the message names the field."""


class MqttLinkSettings(StrictModel):
    """How central reaches the MQTT broker. The gateway's ``CentralLinkConfig`` plugs in here."""

    enabled: bool = Field(False, description="connect to the broker at start-up")
    host: str = Field("127.0.0.1", description="broker host")
    port: int = Field(1883, ge=1, le=65535, description="broker port")
    client_id: str = Field("anju-central", min_length=1, max_length=128)
    username: str | None = None
    password: str | None = None
    tls: bool = False
    extra: dict[str, Any] = Field(default_factory=dict, description="options for the gateway's link")


class AuditSettings(StrictModel):
    """Audit log retention: at least 183 days (six months) by rule."""

    retention_days: int = Field(365, ge=183, le=36500, description="days audit records are kept")


class EnrolmentSettings(StrictModel):
    """Limits for photo enrolment."""

    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest accepted upload")
    max_archive_bytes: int = Field(512 * 1024 * 1024, ge=1024, description="largest bulk zip/spreadsheet")
    duplicate_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="cosine similarity above which a face counts as already enrolled"
    )
    face_data_filing_threshold: int = Field(
        100_000, ge=1, description="people with face data that trigger the 2025 filing duty"
    )
    face_data_warning_ratio: float = Field(0.9, gt=0.0, le=1.0, description="warn at this share of it")
    model_dir: Path | None = Field(None, description="model cache used for enrolment embeddings")
    max_templates_per_person: int = Field(5, ge=1, le=16)
    recognition: RecognitionConfig = Field(
        default_factory=RecognitionConfig, description="must name the same models the site's edges run"
    )


class RetentionSettings(StrictModel):
    """Days each record type is kept."""

    pass_days: int = Field(180, ge=1, le=36500, description="in/out (pass) records")
    stranger_days: int = Field(90, ge=1, le=36500, description="stranger and liveness-failure records")
    vehicle_days: int = Field(180, ge=1, le=36500, description="vehicle plate records")
    other_event_days: int = Field(90, ge=1, le=36500, description="status, heartbeat and other records")
    alert_days: int = Field(365, ge=1, le=36500, description="resolved alerts")
    visit_days: int = Field(180, ge=1, le=36500, description="visit records")
    delivery_days: int = Field(30, ge=1, le=36500, description="webhook delivery log")
    whitelist_version_days: int = Field(30, ge=1, le=36500, description="published whitelist versions")
    snapshot_days: int = Field(30, ge=1, le=36500, description="event snapshots (face images) of alerts")
    camera_status_days: int = Field(400, ge=1, le=36500, description="camera status history (uptime)")
    batch: int = Field(5000, ge=100, le=100000, description="rows deleted per statement")


class CentralSettings(BaseSettings):
    """Everything the central service needs; each sub-model is one component's slice."""

    model_config = SettingsConfigDict(
        env_prefix="ANJU_", env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Field(Path("./data"), description="where the SQLite file, photos and keys live")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite under data_dir")
    secret_key: str = Field(DEFAULT_SECRET, description="HMAC key for tokens and QR payloads")
    token_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 86400, description="bearer token lifetime")
    site_id: str | None = Field(None, description="default site for single-compound installations")
    signing_key_path: Path | None = Field(None, description="Ed25519 key used to sign whitelists and QR")
    cors_origins: list[str] = Field(default_factory=list)
    max_request_bytes: int = Field(600 * 1024 * 1024, ge=1024, description="hard cap for any request body")
    mqtt: MqttLinkSettings = Field(default_factory=MqttLinkSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    enrolment: EnrolmentSettings = Field(default_factory=EnrolmentSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    reconciliation: ReconciliationConfig = Field(
        default_factory=ReconciliationConfig, description="一标三实 clustering, scoring and grid-work periods"
    )

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> CentralSettings:
        if self.environment != "development":
            if self.secret_key == DEFAULT_SECRET:
                raise ValueError(
                    "secret_key: 生产/测试环境不能使用默认密钥 / must be changed from the default "
                    "outside development (set ANJU_SECRET_KEY)"
                )
            if len(self.secret_key) < 32:
                raise ValueError("secret_key: 密钥太短 / must be at least 32 characters outside development")
        return self

    @property
    def effective_database_url(self) -> str:
        """``database_url`` or a SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'anju.db').resolve()}"


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="allow")


def load_settings(config_file: Path | None = None, **overrides: Any) -> CentralSettings:
    """Build settings from an optional YAML file, the environment and explicit overrides.

    Raises :class:`SettingsError` naming the file/field on any problem.
    """
    data: dict[str, Any] = {}
    source = "settings"
    if config_file is not None:
        file_data = load_yaml(config_file, _FileModel).model_dump()
        source = str(config_file)
        # The environment beats the file, so an operator can override one value.
        env_keys = {k.upper() for k in os.environ if k.upper().startswith("ANJU_")}
        data = {
            k: v
            for k, v in file_data.items()
            if f"ANJU_{k.upper()}" not in env_keys
            and not any(e.startswith(f"ANJU_{k.upper()}__") for e in env_keys)
        }
    data.update(overrides)
    try:
        return CentralSettings(**data)
    except ValidationError as exc:
        raise SettingsError(format_validation_error(exc, source)) from exc
