"""The root of every error Anju raises on purpose.

Each carries a message meant for a person (it names the file, field or object
and the reason). The CLI prints it and exits with ``exit_code``; the central
service maps its domain subclasses to HTTP statuses in one handler.
"""

from __future__ import annotations


class AnjuError(Exception):
    """A known, explainable failure."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
