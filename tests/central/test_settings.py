"""Settings: defaults, env prefix, YAML file, refusal of unsafe secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.settings import DEFAULT_SECRET, SettingsError, load_settings


def test_defaults_development(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANJU_DATA_DIR", str(tmp_path))
    s = load_settings()
    assert s.environment == "development"
    assert s.secret_key == DEFAULT_SECRET
    assert s.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'anju.db'}"


def test_production_refuses_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANJU_ENVIRONMENT", "production")
    with pytest.raises(SettingsError, match="secret_key"):
        load_settings()
    monkeypatch.setenv("ANJU_SECRET_KEY", "short")
    with pytest.raises(SettingsError, match="at least 32"):
        load_settings()
    monkeypatch.setenv("ANJU_SECRET_KEY", "x" * 40)
    assert load_settings().environment == "production"


def test_yaml_file_and_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "central.yaml"
    cfg.write_text(
        "environment: test\nsecret_key: '"
        + "k" * 40
        + "'\ntoken_ttl_s: 600\naudit:\n  retention_days: 200\n",
        encoding="utf-8",
    )
    s = load_settings(cfg)
    assert s.token_ttl_s == 600 and s.audit.retention_days == 200
    monkeypatch.setenv("ANJU_TOKEN_TTL_S", "900")
    monkeypatch.setenv("ANJU_DATABASE_URL", "postgresql+psycopg://u@h/db")
    s = load_settings(cfg)
    assert s.token_ttl_s == 900
    assert s.effective_database_url == "postgresql+psycopg://u@h/db"


def test_bad_values_name_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("audit:\n  retention_days: 30\nbogus: 1\n", encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_settings(cfg)
    assert "audit.retention_days" in str(err.value)
    assert "bogus" in str(err.value)
