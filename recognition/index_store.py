"""Crash-safe persistence for the whitelist index.

One file holds everything: an 8-byte magic, the length of a JSON manifest, the
manifest, then the payload (the FAISS index bytes, the label array and the
person-id table). The manifest carries the payload's SHA-256 and sizes, so a
torn or altered file is refused with a clear reason instead of loading garbage.

Saving writes a temporary file in the same folder, fsyncs it, renames it over
the target with ``os.replace`` (atomic on POSIX) and fsyncs the folder. A
process killed at any point leaves either the previous file or the new one,
never a mix; stray temporary files are removed by the next save.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anju.errors import AnjuError

log = logging.getLogger(__name__)

MAGIC = b"ANJUIDX1"
FORMAT_VERSION = 1
_TMP_MARK = ".tmp-"


class IndexFileError(AnjuError):
    """An index file is missing, torn, altered or of an unknown format."""


@dataclass(frozen=True)
class StoredIndex:
    """What a file holds: the manifest and the decoded payload parts."""

    manifest: dict[str, Any]
    faiss_bytes: np.ndarray  # uint8
    labels: np.ndarray  # int64, one per template
    owners: np.ndarray  # int32, index into person_ids, one per template
    person_ids: list[str]
    aux: bytes  # the rerank codes of the IVF tier (empty for exact)


def _tmp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}{_TMP_MARK}{os.getpid()}-{os.urandom(4).hex()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temps(path: Path) -> None:
    """Remove temporary files left by savers that died (their pid no longer runs)."""
    prefix = f"{path.name}{_TMP_MARK}"
    for cand in path.parent.glob(f"{path.name}{_TMP_MARK}*"):
        rest = cand.name[len(prefix) :]
        pid_text = rest.split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid != os.getpid() and _pid_alive(pid):
            continue
        try:
            cand.unlink()
            log.info("removed stale index temp file %s", cand)
        except FileNotFoundError:
            pass


def write_index_file(
    path: Path,
    manifest: dict[str, Any],
    faiss_bytes: np.ndarray,
    labels: np.ndarray,
    owners: np.ndarray,
    person_ids: list[str],
    aux: bytes = b"",
) -> None:
    """Write atomically: temp file + fsync + ``os.replace`` + fsync of the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    ids_blob = json.dumps(person_ids, ensure_ascii=False).encode("utf-8")
    parts = [
        np.ascontiguousarray(faiss_bytes, dtype=np.uint8).tobytes(),
        np.ascontiguousarray(labels, dtype="<i8").tobytes(),
        np.ascontiguousarray(owners, dtype="<i4").tobytes(),
        ids_blob,
        aux,
    ]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    full = dict(manifest)
    full.update(
        format=FORMAT_VERSION,
        faiss_bytes=len(parts[0]),
        templates=int(labels.shape[0]),
        person_table_bytes=len(ids_blob),
        aux_bytes=len(aux),
        sha256=digest.hexdigest(),
    )
    head = json.dumps(full, ensure_ascii=False, sort_keys=True).encode("utf-8")
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(MAGIC)
            fh.write(struct.pack("<Q", len(head)))
            fh.write(head)
            for part in parts:
                fh.write(part)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_index_file(path: Path) -> StoredIndex:
    """Read and verify a file written by :func:`write_index_file`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise IndexFileError(f"{path}: index file not found") from exc
    except OSError as exc:
        raise IndexFileError(f"{path}: cannot read index file: {exc}") from exc
    if len(data) < len(MAGIC) + 8 or data[: len(MAGIC)] != MAGIC:
        raise IndexFileError(f"{path}: not an Anju index file (bad magic)")
    (head_len,) = struct.unpack_from("<Q", data, len(MAGIC))
    start = len(MAGIC) + 8
    if start + head_len > len(data):
        raise IndexFileError(f"{path}: truncated index file (manifest cut short)")
    try:
        manifest = json.loads(data[start : start + head_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFileError(f"{path}: manifest is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise IndexFileError(f"{path}: unknown index file format {manifest.get('format')!r}")
    payload = memoryview(data)[start + head_len :]
    try:
        n_faiss = int(manifest["faiss_bytes"])
        n_tpl = int(manifest["templates"])
        n_ids = int(manifest["person_table_bytes"])
        n_aux = int(manifest["aux_bytes"])
        want = str(manifest["sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFileError(f"{path}: manifest lacks a field: {exc}") from exc
    expected = n_faiss + n_tpl * 8 + n_tpl * 4 + n_ids + n_aux
    if len(payload) != expected:
        raise IndexFileError(f"{path}: payload is {len(payload)} bytes, manifest says {expected} (torn file)")
    if hashlib.sha256(payload).hexdigest() != want:
        raise IndexFileError(f"{path}: checksum mismatch (file altered or corrupted)")
    off = 0
    faiss_bytes = np.frombuffer(payload[off : off + n_faiss], dtype=np.uint8).copy()
    off += n_faiss
    labels = np.frombuffer(payload[off : off + n_tpl * 8], dtype="<i8").astype(np.int64)
    off += n_tpl * 8
    owners = np.frombuffer(payload[off : off + n_tpl * 4], dtype="<i4").astype(np.int32)
    off += n_tpl * 4
    person_ids = json.loads(bytes(payload[off : off + n_ids]).decode("utf-8"))
    off += n_ids
    aux = bytes(payload[off:])
    if not isinstance(person_ids, list) or not all(isinstance(p, str) for p in person_ids):
        raise IndexFileError(f"{path}: person table is not a list of ids")
    if n_tpl and (owners.min() < 0 or owners.max() >= len(person_ids)):
        raise IndexFileError(f"{path}: template owner out of range of the person table")
    return StoredIndex(manifest, faiss_bytes, labels, owners, person_ids, aux)
