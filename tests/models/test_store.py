"""Model manifest, fetch from a mirror, verification of corrupt/truncated files, CLI exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from anju.cli import main as anju_main
from models.errors import ModelError
from models.fetch import NonCommercialRefused, _download, fetch_pack
from models.registry import get_pack, load_manifest, manifest, model_id
from models.store import resolve, sha256_file

MIRROR = Path(__file__).resolve().parents[2].parent / "shared" / "models"
needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason="../shared/models not present")


def test_manifest_packs_and_licenses() -> None:
    man = manifest()
    assert man.default_pack == "faceplugin"
    default = get_pack("faceplugin")
    assert default.commercial_use
    assert {f.role for f in default.files} >= {
        "detector_rfb320",
        "landmarks68",
        "embedder",
        "liveness",
        "detector_yunet",
    }
    for name in ("buffalo_l", "buffalo_s", "buffalo_sc"):
        pack = get_pack(name)
        assert not pack.commercial_use
        assert pack.has_role("detector_scrfd") and pack.has_role("embedder")
        assert all(a.url and a.url.startswith("https://") for a in pack.archives.values())
    assert get_pack("opencv_zoo").file("embedder").embedder is not None
    with pytest.raises(ModelError, match="unknown model pack 'nope'"):
        get_pack("nope")
    with pytest.raises(ModelError, match="has no 'detector_scrfd'"):
        default.file("detector_scrfd")


def test_manifest_rejects_bad_checksum_field(tmp_path: Path) -> None:
    data = json.loads((Path(__file__).resolve().parents[2] / "models" / "manifest.json").read_text())
    data["packs"]["faceplugin"]["files"][0]["sha256"] = "xyz"
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=r"manifest.json: packs.faceplugin.files.0.sha256"):
        load_manifest(bad)


def test_model_id_names_pack_file_and_checksum() -> None:
    f = get_pack("faceplugin").file("embedder")
    assert model_id("faceplugin", f) == "faceplugin/fr_feature.onnx@87aacdfe5751"


def test_non_commercial_pack_needs_explicit_flag(tmp_path: Path) -> None:
    with pytest.raises(NonCommercialRefused, match="non-commercial"):
        fetch_pack("buffalo_l", model_dir=tmp_path)
    assert not any(tmp_path.iterdir())


@needs_mirror
def test_fetch_from_mirror_then_resolve(tmp_path: Path) -> None:
    reports = fetch_pack("scrfd_500m", model_dir=tmp_path, mirror=MIRROR, accept_non_commercial=True)
    assert [r.origin for r in reports] == ["mirror"]
    path = resolve("scrfd_500m", "detector_scrfd", tmp_path)
    assert sha256_file(path) == sha256_file(MIRROR / "scrfd_500m_bnkps.onnx")
    # a second fetch finds it in the cache
    assert [r.origin for r in fetch_pack("scrfd_500m", model_dir=tmp_path, accept_non_commercial=True)] == [
        "cache"
    ]
    assert not [p for p in (tmp_path / "scrfd_500m").iterdir() if p.name.startswith(".fetch-")]


@needs_mirror
def test_truncated_and_corrupt_model_files_are_named(tmp_path: Path) -> None:
    fetch_pack("scrfd_500m", model_dir=tmp_path, mirror=MIRROR, accept_non_commercial=True)
    path = tmp_path / "scrfd_500m" / "scrfd_500m_bnkps.onnx"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ModelError, match=r"scrfd_500m_bnkps.onnx.*truncated: 1262324 bytes, expected 2524648"
    ):
        resolve("scrfd_500m", "detector_scrfd", tmp_path)
    flipped = bytearray(data)
    flipped[1000] ^= 0xFF
    path.write_bytes(bytes(flipped))
    with pytest.raises(ModelError, match=r"scrfd_500m_bnkps.onnx.*wrong checksum"):
        resolve("scrfd_500m", "detector_scrfd", tmp_path)
    # fetch repairs the cache from the mirror
    reports = fetch_pack("scrfd_500m", model_dir=tmp_path, mirror=MIRROR, accept_non_commercial=True)
    assert reports[0].origin == "mirror"
    resolve("scrfd_500m", "detector_scrfd", tmp_path)


@needs_mirror
def test_corrupt_mirror_file_is_refused(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    src = (MIRROR / "scrfd_500m_bnkps.onnx").read_bytes()
    (mirror / "scrfd_500m_bnkps.onnx").write_bytes(src[:-10] + b"0123456789")
    with pytest.raises(ModelError, match=r"mirrored model scrfd_500m_bnkps.onnx.*wrong checksum"):
        fetch_pack("scrfd_500m", model_dir=tmp_path / "cache", mirror=mirror, accept_non_commercial=True)
    assert not (tmp_path / "cache" / "scrfd_500m" / "scrfd_500m_bnkps.onnx").exists()


def test_missing_model_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(
        ModelError, match=r"not installed; run `anju models fetch --pack buffalo_sc --accept-non-commercial`"
    ):
        resolve("buffalo_sc", "embedder", tmp_path)


def test_mirror_only_file_without_mirror_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="only available from a mirror folder"):
        fetch_pack("scrfd_500m", model_dir=tmp_path, accept_non_commercial=True)


def test_unreachable_upstream_is_a_clear_error(tmp_path: Path) -> None:
    # Port 9 on loopback: nothing listens; the same path an offline machine takes.
    with pytest.raises(ModelError, match=r"cannot download http://127.0.0.1:9/x.onnx: .*--mirror DIR"):
        _download("http://127.0.0.1:9/x.onnx", tmp_path / "x.part", None)


@needs_mirror
def test_cli_fetch_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = anju_main(
        ["models", "fetch", "--pack", "scrfd_500m", "--model-dir", str(tmp_path), "--mirror", str(MIRROR)]
    )
    assert rc == 4
    rc = anju_main(
        [
            "models",
            "fetch",
            "--pack",
            "scrfd_500m",
            "--model-dir",
            str(tmp_path),
            "--mirror",
            str(MIRROR),
            "--accept-non-commercial",
        ]
    )
    assert rc == 0
    capsys.readouterr()
    assert anju_main(["models", "list", "--json", "--model-dir", str(tmp_path)]) == 0
    listing = json.loads(capsys.readouterr().out)
    scrfd = next(p for p in listing["packs"] if p["pack"] == "scrfd_500m")
    assert scrfd["files"][0]["present"] and not scrfd["commercial_use"]
    shutil.rmtree(tmp_path / "scrfd_500m")


@pytest.mark.slow
def test_default_pack_from_npm_registry(tmp_path: Path) -> None:
    """The real `npm pack` path: the tarball's checksum and every extracted model are verified."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    if MIRROR.is_dir():
        shutil.copy(MIRROR / "face_detection_yunet.onnx", mirror)
    reports = fetch_pack("faceplugin", model_dir=tmp_path / "cache", mirror=mirror)
    origins = {r.filename: r.origin for r in reports}
    assert origins["fr_feature.onnx"] == "npm"
    for role in ("detector_rfb320", "landmarks68", "embedder", "liveness"):
        resolve("faceplugin", role, tmp_path / "cache")
