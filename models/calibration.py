"""Site calibrations of a pack's thresholds, kept in the model cache next to the pack's files.

``anju recognition calibrate`` measures a pack's 1:1 threshold (FAR 1e-3) and its 1:N
open-set threshold (FPIR 1e-2) on the operator's own labelled faces and writes
``<model_dir>/<pack>/calibration.json``. ``FacePipeline`` prefers that file over the
manifest's figures, but only for the embedder file it was measured with (the model id
pins the file's checksum): a calibration of another model version is ignored with a
warning. The file is written atomically (temporary file, fsync, rename).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import Field, ValidationError

from anju.config import StrictModel, format_validation_error
from models.errors import ModelError
from models.store import default_model_dir, place_file

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"


class Calibration(StrictModel):
    """Thresholds measured for one embedder file with one detector on one labelled data set."""

    version: int = Field(1, ge=1, le=1, description="file format version")
    pack: str = Field(description="model pack the thresholds belong to")
    model_id: str = Field(description="embedder id (pack/file@sha256-prefix) the scores came from")
    detector: str = Field(description="detector used while measuring (landmarks shape the scores)")
    flip_fusion: bool = Field(False, description="whether flip fusion was on while measuring")
    match_threshold: float = Field(ge=-1.0, le=1.0, description="1:1 cosine threshold at `far`")
    far: float = Field(gt=0.0, lt=1.0, description="false-accept rate the 1:1 threshold was taken at")
    tar_at_far: float = Field(ge=0.0, le=1.0, description="genuine pairs accepted at that threshold")
    genuine_pairs: int = Field(ge=0, description="genuine (same-person) pairs scored")
    impostor_pairs: int = Field(ge=0, description="impostor pairs scored")
    open_set_threshold: float | None = Field(
        None, ge=-1.0, le=1.0, description="1:N gate threshold at `fpir` (None: not measured)"
    )
    fpir: float = Field(0.01, gt=0.0, lt=1.0, description="false-positive identification rate targeted")
    fnir_at_fpir: float | None = Field(None, ge=0.0, le=1.0, description="mated probes missed there")
    gallery: int = Field(0, ge=0, description="identities enrolled for the open-set measurement")
    mated_probes: int = Field(0, ge=0)
    non_mated_probes: int = Field(0, ge=0)
    dataset: str = Field(description="folder of labelled faces the figures come from")
    images: int = Field(ge=0, description="images embedded")
    failed_images: int = Field(ge=0, description="images without a detected face or unreadable")
    measured_at: datetime = Field(description="when the calibration was made (UTC)")
    warnings: list[str] = Field(default_factory=list, description="why a figure may be unreliable")


def calibration_path(pack: str, model_dir: Path | None = None) -> Path:
    return (model_dir or default_model_dir()) / pack / CALIBRATION_FILE


def load_calibration(pack: str, model_dir: Path | None = None) -> Calibration | None:
    """The pack's calibration in the cache, or None when there is none; a broken file is an error."""
    path = calibration_path(pack, model_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the calibration: {exc.strerror}") from exc
    try:
        return Calibration.model_validate_json(text)
    except ValidationError as exc:
        raise ModelError(
            format_validation_error(exc, str(path)) + "; re-run `anju recognition calibrate` or delete it"
        ) from exc


def save_calibration(cal: Calibration, model_dir: Path | None = None) -> Path:
    """Write ``cal`` as the pack's calibration (atomic: a crash leaves the old file or the new one)."""
    path = calibration_path(cal.pack, model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(cal.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{CALIBRATION_FILE}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        place_file(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("calibration of pack %s written to %s", cal.pack, path)
    return path
