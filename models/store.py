"""The local model cache: where packs live, checksum verification and :func:`resolve`.

Layout: ``<model_dir>/<pack>/<filename>``. The model dir is ``$ANJU_MODEL_DIR`` or
``$XDG_CACHE_HOME/anju/models`` (``~/.cache/anju/models``). Files are verified
(size, then sha256) before use, so a truncated or tampered file is reported by
name instead of crashing ONNX Runtime later.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from models.errors import ModelError
from models.registry import ModelFile, get_pack, manifest

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
# (path, size, mtime_ns) → verified; hashing a 5 MB file costs ~10 ms, but the
# pipeline may resolve the same file many times in one process.
_verified: set[tuple[str, int, int]] = set()
_verified_lock = threading.Lock()


def default_model_dir() -> Path:
    env = os.environ.get("ANJU_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "anju" / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, expected_sha256: str, expected_size: int | None, *, what: str) -> None:
    """Raise :class:`ModelError` unless ``path`` exists with the pinned size and checksum."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelError(f"{path}: {what} is missing") from None
    except OSError as exc:
        raise ModelError(f"{path}: {what} cannot be read: {exc.strerror}") from exc
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _verified_lock:
        if key in _verified:
            return
    if expected_size is not None and st.st_size != expected_size:
        kind = "truncated" if st.st_size < expected_size else "too large"
        raise ModelError(
            f"{path}: {what} is {kind}: {st.st_size} bytes, expected {expected_size}; "
            "delete it and run `anju models fetch` again"
        )
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise ModelError(f"{path}: {what} cannot be read: {exc.strerror}") from exc
    if actual != expected_sha256:
        raise ModelError(
            f"{path}: {what} has the wrong checksum (sha256 {actual}, expected {expected_sha256}); "
            "the file is corrupt or not the pinned model: delete it and run `anju models fetch` again"
        )
    with _verified_lock:
        _verified.add(key)


def file_path(pack: str, file: ModelFile, model_dir: Path | None = None) -> Path:
    return (model_dir or default_model_dir()) / pack / file.filename


def resolve(pack: str, role: str, model_dir: Path | None = None) -> Path:
    """The verified path of ``role`` in ``pack`` (e.g. ``resolve("faceplugin", "embedder")``)."""
    p = get_pack(pack)
    f = p.file(role)
    path = file_path(pack, f, model_dir)
    if not path.exists():
        flag = "" if p.commercial_use else " --accept-non-commercial"
        raise ModelError(
            f"{path}: model {f.filename} ({role}) of pack {pack!r} is not installed; "
            f"run `anju models fetch --pack {pack}{flag}`"
        )
    verify_file(path, f.sha256, f.size, what=f"model {f.filename} ({pack}/{role})")
    return path


def present(pack: str, model_dir: Path | None = None) -> dict[str, bool]:
    """filename → whether it is in the cache (by existence and size only; cheap for listings)."""
    p = get_pack(pack)
    out: dict[str, bool] = {}
    for f in p.files:
        path = file_path(pack, f, model_dir)
        out[f.filename] = path.is_file() and (f.size is None or path.stat().st_size == f.size)
    return out


def default_pack() -> str:
    return manifest().default_pack


def place_file(src: Path, dest: Path) -> None:
    """fsync ``src`` and rename it over ``dest`` (same file system), then fsync the folder: a crash
    leaves the old file or the new one, never a torn one."""
    with src.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(src, dest)
    try:
        dfd = os.open(dest.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
