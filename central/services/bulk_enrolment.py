"""Bulk enrolment from a zip of photos or a folder.

Photos are matched to persons by file name: ``<id_number>.jpg`` or ``<person_id>.jpg`` (also
``<id_number>_2.jpg`` for a second photo), or by a ``manifest.csv`` / ``manifest.xlsx`` in the
archive with columns ``file`` and ``id_number`` (or ``person_id``). Every photo is its own
transaction; failures (no consent, no face, quality) are reported per file, never abort the rest.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from anju.errors import AnjuError
from central.errors import FieldError, ValidationFailed
from central.models.registry import Person
from central.services.enrolment import enrol_photo
from central.services.jobs import Progress
from central.settings import EnrolmentSettings

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
MAX_FILES = 20000


@dataclass(frozen=True)
class PhotoItem:
    file: str
    key: str  # id_number or person_id
    data: bytes


def _manifest(rows: list[dict[str, str]]) -> dict[str, str]:
    out = {}
    for r in rows:
        f = (r.get("file") or r.get("文件") or "").strip()
        k = (r.get("id_number") or r.get("身份证号") or r.get("person_id") or "").strip()
        if f and k:
            out[PurePosixPath(f).name] = k.upper()
    return out


def _manifest_rows(name: str, data: bytes) -> list[dict[str, str]]:
    if name.endswith(".csv"):
        text = data.decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text)))
    from central.services.tabular import read_xlsx_rows

    return read_xlsx_rows(data)


def _key_from_name(name: str) -> str:
    stem = PurePosixPath(name).stem
    return stem.split("_")[0].upper() if len(stem.split("_")[0]) in (18, 36) else stem.upper()


def read_zip(data: bytes) -> list[PhotoItem]:
    """Photos of a zip archive with their person keys; ValidationFailed for a bad archive."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ValidationFailed(
            "不是有效的zip文件", "not a zip archive", [FieldError("file", "bad zip")]
        ) from exc
    infos = [
        i for i in zf.infolist() if not i.is_dir() and not PurePosixPath(i.filename).name.startswith(".")
    ]
    if len(infos) > MAX_FILES:
        raise ValidationFailed(
            "文件数量过多", f"more than {MAX_FILES} files", [FieldError("file", "too many files")]
        )
    manifest: dict[str, str] = {}
    for i in infos:
        base = PurePosixPath(i.filename).name.lower()
        if base in ("manifest.csv", "manifest.xlsx"):
            manifest = _manifest(_manifest_rows(base, zf.read(i)))
    items = []
    for i in infos:
        name = PurePosixPath(i.filename).name
        if PurePosixPath(name).suffix.lower() not in PHOTO_SUFFIXES:
            continue
        if i.file_size > 50 * 1024 * 1024:  # refuse zip bombs before inflating
            raise ValidationFailed(
                "压缩包内文件过大", f"{name} too large", [FieldError(f"file.{name}", "too large")]
            )
        items.append(PhotoItem(name, manifest.get(name) or _key_from_name(name), zf.read(i)))
    return items


def read_folder(folder: Path) -> Iterator[PhotoItem]:
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES:
            yield PhotoItem(p.name, _key_from_name(p.name), p.read_bytes())


def enrol_items(
    session: Session,
    site_id: str,
    items: list[PhotoItem],
    progress: Progress,
    *,
    pipeline: Any,
    limits: EnrolmentSettings,
    clock: Any,
    audit_actor: Any,
    reason: str,
) -> None:
    """Enrol each item into ``site_id``, one transaction per photo, reporting every file."""
    from central.services import audit

    for item in items:
        person = session.scalar(
            select(Person).where(
                Person.site_id == site_id, or_(Person.id_number == item.key, Person.id == item.key.lower())
            )
        )
        if person is None:
            progress(
                False, {"file": item.file, "error": "找不到对应人员 / no person with this ID in the site"}
            )
            continue
        try:
            res = enrol_photo(
                session, person, item.data, pipeline=pipeline, limits=limits, now=clock.now(), name=item.file
            )
            audit.record(
                session,
                actor=audit_actor,
                action="enrol",
                object_type="face_template",
                object_id=res.template.id,
                site_id=site_id,
                reason=reason,
                detail={"person_id": person.id, "file": item.file},
                now=clock.now(),
            )
            session.commit()
            progress(
                True,
                {
                    "file": item.file,
                    "person_id": person.id,
                    "template_id": res.template.id,
                    "quality": round(res.quality, 3),
                    "duplicates": [
                        {"person_id": d.person_id, "score": round(d.score, 3)} for d in res.duplicates
                    ],
                },
            )
        except AnjuError as exc:
            session.rollback()
            progress(
                False,
                {"file": item.file, "person_id": person.id, "error": str(getattr(exc, "message_zh", exc))},
            )
