"""Import (all-or-nothing, row-level errors) and export of residents, houses and units."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from central.deps import (
    ClockDep,
    ReasonDep,
    SessionDep,
    SettingsDep,
    actor_of,
    ensure_site_access,
    read_upload,
    require_roles,
)
from central.models.registry import Site
from central.models.users import User
from central.schemas import ApiModel
from central.security import GRID_WORKER, POLICE, PROPERTY_MANAGER
from central.services import audit
from central.services import import_export as ie
from central.services.registry import get_in
from central.services.tabular import read_table

router = APIRouter(tags=["import-export"])

Importer = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GRID_WORKER))]
Exporter = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GRID_WORKER, POLICE))]
Entity = Literal["persons", "houses", "organisations"]
MAX_IMPORT_BYTES = 20 * 1024 * 1024

_MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
_NAMES = {"persons": "实有人口", "houses": "实有房屋", "organisations": "实有单位"}


class ImportOut(ApiModel):
    entity: str
    created: int
    rows: int


@router.post("/import/{entity}", response_model=ImportOut, status_code=201)
async def import_table(
    *,
    entity: Entity,
    site_id: Annotated[str, Query(max_length=36)],
    file: Annotated[UploadFile, File()],
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    user: Importer,
    reason: ReasonDep,
) -> ImportOut:
    """Upload .xlsx or .csv; any bad row → 422 listing ``rows.<n>.<field>``, nothing written."""
    ensure_site_access(user, site_id)
    data = await read_upload(file, min(MAX_IMPORT_BYTES, settings.max_request_bytes), "file")

    def work() -> ImportOut:
        get_in(session, Site, site_id)
        rows = read_table(data, file.filename or "")
        now = clock.now()
        if entity == "persons":
            res = ie.import_persons(session, site_id, rows, user.role, now)
        elif entity == "houses":
            res = ie.import_houses(session, site_id, rows, now)
        else:
            res = ie.import_organisations(session, site_id, rows, now)
        audit.record(
            session,
            actor=actor_of(user),
            action="import",
            object_type=entity,
            site_id=site_id,
            reason=reason,
            detail={"file": (file.filename or "")[:200], "created": res.created},
            now=now,
        )
        session.commit()
        return ImportOut(entity=entity, created=res.created, rows=res.rows)

    return await run_in_threadpool(work)


@router.get("/export/{entity}")
def export_table(
    *,
    entity: Entity,
    site_id: Annotated[str, Query(max_length=36)],
    session: SessionDep,
    clock: ClockDep,
    user: Exporter,
    reason: ReasonDep,
    format: Annotated[Literal["xlsx", "csv"], Query()] = "xlsx",
) -> Response:
    """Download as .xlsx or .csv (UTF-8 with BOM); ID numbers masked unless the role may see them."""
    ensure_site_access(user, site_id)
    site = get_in(session, Site, site_id)
    if entity == "persons":
        body, n = ie.export_persons(session, site_id, user.role, format)
    elif entity == "houses":
        body, n = ie.export_houses(session, site_id, format)
    else:
        body, n = ie.export_organisations(session, site_id, format)
    audit.record(
        session,
        actor=actor_of(user),
        action="export",
        object_type=entity,
        site_id=site_id,
        reason=reason,
        detail={"rows": n, "format": format},
        now=clock.now(),
    )
    session.commit()
    filename = f"{site.code}-{_NAMES[entity]}.{format}"
    return Response(
        body,
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )
