"""Response/request models shared across routers (one schema family per entity lives with its router)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    """Base for API bodies: unknown fields are rejected, ORM objects accepted."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


class UserPublic(ApiModel):
    id: str
    username: str
    role: str
    site_ids: list[str]
    display_name: str
    active: bool = True


class Page(ApiModel):
    total: int
    offset: int
    limit: int
