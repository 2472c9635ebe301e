"""Base class for every component's configuration model.

Each component defines one pydantic model derived from :class:`StrictModel`
(unknown keys are errors, not silently ignored) and receives only its own slice.
:func:`load_yaml` turns a YAML file into such a model with messages that name
the file and the offending key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Config/message base: unknown fields are rejected, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ConfigError(Exception):
    """A configuration file could not be read or is invalid; the message is for a person."""


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line per problem: ``source: a.b.c: message``."""
    lines = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "(root)"
        lines.append(f"{source}: {loc}: {item['msg']}")
    return "\n".join(lines)


def load_yaml(path: Path, model: type[M]) -> M:
    """Load and validate a YAML file into ``model``; raise :class:`ConfigError` with clear reasons."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from exc
