"""Central → edge messages: whitelist snapshots and deltas, remote door commands.

A whitelist is versioned per site. A snapshot replaces the edge's list; a delta
moves it from ``base_version`` to ``version`` and is refused if the edge is not
at ``base_version`` (it then asks for a snapshot). Templates say which model
made them: the edge never compares vectors of different models.
"""

from __future__ import annotations

import base64
from datetime import datetime, time
from typing import Literal
from uuid import UUID

import numpy as np
from pydantic import AwareDatetime, Field, field_validator

from contracts.messages import Ident, Message, PersonKind


class Template(Message):
    """One face template: an L2-normalised float32 vector from ``model_id``."""

    model_id: str = Field(min_length=1, max_length=64)
    dim: int = Field(ge=16, le=2048)
    vector_b64: str = Field(max_length=16384)

    @field_validator("vector_b64")
    @classmethod
    def _decodable(cls, value: str) -> str:
        base64.b64decode(value, validate=True)
        return value

    @classmethod
    def from_vector(cls, model_id: str, vector: np.ndarray) -> Template:
        vec = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        return cls(
            model_id=model_id, dim=int(vec.shape[0]), vector_b64=base64.b64encode(vec.tobytes()).decode()
        )

    def vector(self) -> np.ndarray:
        vec = np.frombuffer(base64.b64decode(self.vector_b64), dtype=np.float32)
        if vec.shape[0] != self.dim:
            raise ValueError(f"template has {vec.shape[0]} values, dim says {self.dim}")
        return vec


class AccessWindow(Message):
    """When and where a person may pass: zones (or whole rings) on weekdays between two times."""

    zone_ids: list[Ident] = Field(default_factory=list, description="empty = every zone of the rings below")
    rings: list[int] = Field(default_factory=lambda: [1, 2, 3], description="control rings 1-4")
    weekdays: list[int] = Field(default_factory=lambda: list(range(7)), description="0=Monday … 6=Sunday")
    start: time = time(0, 0)
    end: time = time(23, 59, 59)


class WhitelistPerson(Message):
    person_id: str = Field(min_length=1, max_length=64)
    kind: PersonKind
    display_name: str = Field(default="", max_length=64, description="masked name for door displays")
    templates: list[Template] = Field(default_factory=list, max_length=16)
    windows: list[AccessWindow] = Field(default_factory=list)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = Field(default=None, description="lease end, pass expiry")
    watchlist_category: str | None = Field(default=None, max_length=64)
    special_care: list[str] = Field(default_factory=list, description="e.g. dementia, elderly_alone, minor")
    household_id: str | None = Field(default=None, max_length=64)


class WhitelistSnapshot(Message):
    type: Literal["snapshot"] = "snapshot"
    site_id: Ident
    version: int = Field(ge=1)
    issued_at: AwareDatetime
    model_id: str = Field(description="embedding model the site's edges run")
    persons: list[WhitelistPerson]


class WhitelistDelta(Message):
    type: Literal["delta"] = "delta"
    site_id: Ident
    base_version: int = Field(ge=0)
    version: int = Field(ge=1)
    issued_at: AwareDatetime
    upserts: list[WhitelistPerson] = Field(default_factory=list)
    removals: list[str] = Field(default_factory=list, description="person ids revoked")
    reason: str = Field(default="", max_length=128, description="e.g. consent_withdrawn, moved_out")


class DoorCommand(Message):
    """A remote door action from central, authorised and audited there, verified at the edge."""

    command_id: UUID
    site_id: Ident
    node_id: Ident
    door_id: Ident
    action: Literal["open", "lock", "release"] = "open"
    requested_by: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=256)
    issued_at: datetime
    expires_at: datetime
