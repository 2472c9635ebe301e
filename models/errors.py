"""Errors about model files: missing, truncated, wrong checksum, unreachable upstream."""

from __future__ import annotations

from anju.errors import AnjuError


class ModelError(AnjuError):
    """A model file or pack cannot be used; the message names the file and the reason."""

    exit_code = 3
