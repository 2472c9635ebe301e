"""``/api/v1/console/siteplan``: the compound's plan image and where cameras/doors sit on it.

Stored per site under ``<data_dir>/console/siteplans/<site_id>/`` (``plan.png``/``plan.jpg``
and ``markers.json``), positions in percent of the image so they survive resizing. Every
signed-in user of the site may look; property managers and admins change it (audited).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import Response
from pydantic import Field

from central.deps import (
    ClockDep,
    CurrentUser,
    SessionDep,
    SettingsDep,
    actor_of,
    ensure_site_access,
    require_roles,
)
from central.errors import FieldError, NotFound, PayloadTooLarge, UnsupportedMedia, ValidationFailed
from central.models.users import User
from central.schemas import ApiModel
from central.security import PROPERTY_MANAGER
from central.services import audit

router = APIRouter(prefix="/console/siteplan", tags=["console"])

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_MARKERS = 2000
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MARKER_ID = re.compile(r"^(camera|door):[^\x00-\x1f/\\]{1,96}$")


class Point(ApiModel):
    x: float = Field(ge=0.0, le=100.0, description="percent of the image width")
    y: float = Field(ge=0.0, le=100.0, description="percent of the image height")


class SitePlan(ApiModel):
    site_id: str
    image: bool
    content_type: str | None = None
    markers: dict[str, Point]


class MarkersIn(ApiModel):
    markers: dict[str, Point] = Field(description="'camera:<id>' or 'door:<id>' → position")


Editor = Annotated[User, Depends(require_roles(PROPERTY_MANAGER))]


def _site_for(user: User, site_id: str | None) -> str:
    chosen = site_id or (user.site_ids[0] if user.site_ids else None)
    if chosen is None:
        raise ValidationFailed("请指定小区", "site_id is required", [FieldError("site_id", "required")])
    if not _SAFE_ID.match(chosen):
        raise ValidationFailed("小区编号无效", "invalid site_id", [FieldError("site_id", "invalid")])
    ensure_site_access(user, chosen)
    return chosen


def _dir(data_dir: Path, site_id: str) -> Path:
    return data_dir / "console" / "siteplans" / site_id


def _image(folder: Path) -> tuple[Path, str] | None:
    for name, ctype in (("plan.png", "image/png"), ("plan.jpg", "image/jpeg")):
        if (folder / name).is_file():
            return folder / name, ctype
    return None


def _markers(folder: Path) -> dict[str, Point]:
    path = folder / "markers.json"
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {k: Point.model_validate(v) for k, v in raw.items()}


@router.get("", response_model=SitePlan)
def get_plan(*, user: CurrentUser, settings: SettingsDep, site_id: str | None = Query(None)) -> SitePlan:
    site = _site_for(user, site_id)
    folder = _dir(settings.data_dir, site)
    img = _image(folder)
    return SitePlan(
        site_id=site, image=img is not None, content_type=img[1] if img else None, markers=_markers(folder)
    )


@router.get("/image")
def get_image(*, user: CurrentUser, settings: SettingsDep, site_id: str | None = Query(None)) -> Response:
    site = _site_for(user, site_id)
    img = _image(_dir(settings.data_dir, site))
    if img is None:
        raise NotFound("尚未上传平面图", "no site plan image uploaded")
    return Response(img[0].read_bytes(), media_type=img[1], headers={"Cache-Control": "no-cache"})


@router.put("/image", response_model=SitePlan)
async def put_image(
    *,
    user: Editor,
    settings: SettingsDep,
    session: SessionDep,
    clock: ClockDep,
    image: Annotated[UploadFile, File(description="PNG or JPEG")],
    site_id: str | None = Query(None),
) -> SitePlan:
    site = _site_for(user, site_id)
    data = await image.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLarge(
            "平面图过大（最大 10 MB）", "site plan over 10 MB", [FieldError("image", "too large")]
        )
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        name = "plan.png"
    elif data.startswith(b"\xff\xd8\xff"):
        name = "plan.jpg"
    else:
        raise UnsupportedMedia(
            "平面图须为 PNG 或 JPEG", "site plan must be PNG or JPEG", [FieldError("image", "not PNG/JPEG")]
        )
    folder = _dir(settings.data_dir, site)
    folder.mkdir(parents=True, exist_ok=True)
    for old in ("plan.png", "plan.jpg"):
        (folder / old).unlink(missing_ok=True)
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(data)
    tmp.replace(folder / name)
    audit.record(
        session,
        actor=actor_of(user),
        action="siteplan.image",
        object_type="site",
        object_id=site,
        site_id=site,
        detail={"bytes": len(data)},
        now=clock.now(),
    )
    session.commit()
    return get_plan(user=user, settings=settings, site_id=site)


@router.put("/markers", response_model=SitePlan)
def put_markers(
    *,
    body: MarkersIn,
    user: Editor,
    settings: SettingsDep,
    session: SessionDep,
    clock: ClockDep,
    site_id: str | None = Query(None),
) -> SitePlan:
    site = _site_for(user, site_id)
    if len(body.markers) > MAX_MARKERS:
        raise ValidationFailed(
            "标注过多", "too many markers", [FieldError("markers", f"at most {MAX_MARKERS}")]
        )
    bad = [k for k in body.markers if not _MARKER_ID.match(k)]
    if bad:
        raise ValidationFailed(
            "设备标识无效",
            "invalid device key",
            [FieldError(f"markers.{k[:40]}", "use camera:<id> or door:<id>") for k in bad[:20]],
        )
    folder = _dir(settings.data_dir, site)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".markers.json.tmp"
    tmp.write_text(
        json.dumps({k: v.model_dump() for k, v in body.markers.items()}, ensure_ascii=False), encoding="utf-8"
    )
    tmp.replace(folder / "markers.json")
    audit.record(
        session,
        actor=actor_of(user),
        action="siteplan.markers",
        object_type="site",
        object_id=site,
        site_id=site,
        detail={"markers": len(body.markers)},
        now=clock.now(),
    )
    session.commit()
    return get_plan(user=user, settings=settings, site_id=site)
