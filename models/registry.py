"""The manifest of model packs (``models/manifest.json``), validated into typed objects.

Every file has a role (what the pipeline uses it for), a pinned sha256 and, where
known, its size; a pack names its license and whether commercial use is allowed.
Files come from an archive (an npm package or a zip) or a direct HTTPS URL; a
mirror folder may hold either the files themselves or the archives.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from anju.config import StrictModel, format_validation_error
from models.errors import ModelError

MANIFEST_PATH = Path(__file__).with_name("manifest.json")

Sha256 = str


class EmbedderParams(StrictModel):
    """How to feed an ArcFace-style embedder and where its cosine threshold comes from."""

    color: Literal["bgr", "rgb"] = Field(description="channel order the model was trained on")
    mean: float = Field(description="subtracted from every pixel value (0..255)")
    std: float = Field(gt=0, description="divides every pixel value after the mean")
    match_threshold: float = Field(ge=-1.0, le=1.0, description="calibrated cosine threshold")
    threshold_note: str = Field(description="how the threshold was calibrated")
    open_set_threshold: float | None = Field(
        default=None,
        ge=-1.0,
        le=1.0,
        description="1:N gate threshold (open-set, FPIR-calibrated); None = match_threshold",
    )
    thresholds_measured: bool = Field(
        default=False,
        description="True when the thresholds above were measured with this project's pipeline; "
        "False: placeholders, calibrate with `anju recognition calibrate` before relying on them",
    )


class ArchiveSource(StrictModel):
    """A container several files of a pack are extracted from."""

    kind: Literal["npm", "zip"]
    filename: str
    sha256: Sha256 = Field(pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(default=None, gt=0)
    spec: str | None = Field(default=None, description="npm package spec (kind npm)")
    url: str | None = Field(default=None, description="HTTPS URL (kind zip)")

    @model_validator(mode="after")
    def _source_given(self) -> ArchiveSource:
        if self.kind == "npm" and not self.spec:
            raise ValueError("an npm archive needs `spec`")
        if self.kind == "zip" and not self.url:
            raise ValueError("a zip archive needs `url`")
        return self


class ModelFile(StrictModel):
    role: str
    filename: str
    sha256: Sha256 = Field(pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(default=None, gt=0)
    license: str | None = None
    archive: str | None = Field(default=None, description="key into the pack's archives")
    member: str | None = Field(default=None, description="path inside the archive")
    url: str | None = None
    embedder: EmbedderParams | None = None

    @model_validator(mode="after")
    def _member_with_archive(self) -> ModelFile:
        if (self.archive is None) != (self.member is None):
            raise ValueError("`archive` and `member` go together")
        return self


class Pack(StrictModel):
    name: str = ""
    description: str
    license: str
    commercial_use: bool
    homepage: str
    archives: dict[str, ArchiveSource] = Field(default_factory=dict)
    files: list[ModelFile]

    @model_validator(mode="after")
    def _consistent(self) -> Pack:
        roles = [f.role for f in self.files]
        if len(set(roles)) != len(roles):
            raise ValueError("a role appears twice")
        for f in self.files:
            if f.archive is not None and f.archive not in self.archives:
                raise ValueError(f"{f.filename}: unknown archive {f.archive!r}")
        return self

    def file(self, role: str) -> ModelFile:
        for f in self.files:
            if f.role == role:
                return f
        have = ", ".join(f.role for f in self.files)
        raise ModelError(f"model pack {self.name!r} has no {role!r} model (it has: {have})")

    def has_role(self, role: str) -> bool:
        return any(f.role == role for f in self.files)


class Manifest(StrictModel):
    version: Literal[1]
    default_pack: str
    packs: dict[str, Pack]

    @model_validator(mode="after")
    def _names(self) -> Manifest:
        for name, pack in self.packs.items():
            pack.name = name
        if self.default_pack not in self.packs:
            raise ValueError(f"default_pack {self.default_pack!r} is not a pack")
        return self

    def pack(self, name: str) -> Pack:
        try:
            return self.packs[name]
        except KeyError:
            known = ", ".join(sorted(self.packs))
            raise ModelError(f"unknown model pack {name!r} (known packs: {known})") from None


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    """Read and validate a manifest file; errors name the file and the field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the model manifest: {exc}") from exc
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ModelError(format_validation_error(exc, str(path))) from exc


@functools.lru_cache(maxsize=1)
def manifest() -> Manifest:
    """The manifest shipped with this package (read once)."""
    return load_manifest()


def get_pack(name: str) -> Pack:
    return manifest().pack(name)


def model_id(pack: str, file: ModelFile) -> str:
    """A stable id for templates: pack, file and the first 12 hex digits of its checksum."""
    return f"{pack}/{file.filename}@{file.sha256[:12]}"
