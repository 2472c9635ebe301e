"""Bad and odd image input: each case gets a specific reason naming the source."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from anju.errors import AnjuError
from recognition.imageio import ImageError, load_image

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
OBAMA = SHARED / "examples" / "obama.jpg"
needs_data = pytest.mark.skipif(not OBAMA.is_file(), reason="../shared/testdata not present")


def _reason(source: Path | bytes, **kw: object) -> ImageError:
    with pytest.raises(ImageError) as info:
        load_image(source, **kw)  # type: ignore[arg-type]
    assert isinstance(info.value, AnjuError)
    return info.value


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@needs_data
def test_real_jpeg_and_rgba_png() -> None:
    img = load_image(OBAMA)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    rgba = load_image(SHARED / "examples" / "test_images" / "32bit.png")
    assert rgba.shape == (1200, 626, 3)


def test_missing_directory_and_unreadable(tmp_path: Path) -> None:
    err = _reason(tmp_path / "nope.jpg")
    assert err.reason == "unreadable" and "nope.jpg" in str(err) and "not found" in str(err)
    assert _reason(tmp_path).reason == "unreadable"
    locked = tmp_path / "locked.jpg"
    locked.write_bytes(b"\xff\xd8\xff")
    locked.chmod(0)
    try:
        if locked.stat().st_mode & 0o777 == 0 and not _readable(locked):
            assert _reason(locked).reason == "unreadable"
    finally:
        locked.chmod(0o644)


def _readable(p: Path) -> bool:
    try:
        p.read_bytes()
    except PermissionError:
        return False
    return True  # running as root: permissions do not apply


def test_empty_and_non_image(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert _reason(empty).reason == "empty"
    text = tmp_path / "notes.jpg"
    text.write_text("这不是图片 not an image")
    err = _reason(text)
    assert err.reason == "not_an_image" and "notes.jpg" in str(err)
    assert _reason(b"%PDF-1.7 ...", name="upload.pdf").reason == "not_an_image"


@needs_data
def test_truncated_jpeg(tmp_path: Path) -> None:
    data = OBAMA.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 2 // 3])
    err = _reason(cut)
    assert err.reason == "truncated" and "cut.jpg" in str(err)
    # a header-only stump is truncated as well
    assert _reason(data[:200]).reason == "truncated"


def test_one_by_one(tmp_path: Path) -> None:
    ok, enc = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))
    assert ok
    p = tmp_path / "dot.png"
    p.write_bytes(enc.tobytes())
    err = _reason(p)
    assert err.reason == "too_small" and "1×1" in str(err)
    ok, enc = cv2.imencode(".jpg", np.zeros((1, 1, 3), np.uint8))
    assert _reason(enc.tobytes()).reason == "too_small"


def test_huge_png_refused_before_decoding(tmp_path: Path) -> None:
    # A real, valid 20000×20000 grayscale PNG, written row by row (zlib of zeros: ~400 KB on disk).
    p = tmp_path / "huge.png"
    comp = zlib.compressobj(9)
    row = b"\x00" * 20001  # filter byte + 20000 pixels
    with p.open("wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)))
        parts = [comp.compress(row * 1000) for _ in range(20)]
        fh.write(_png_chunk(b"IDAT", b"".join(parts) + comp.flush()))
        fh.write(_png_chunk(b"IEND", b""))
    assert p.stat().st_size < 2_000_000
    err = _reason(p)
    assert err.reason == "too_large" and "20000×20000" in str(err)


def test_huge_jpeg_header_refused(tmp_path: Path) -> None:
    _ok, enc = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8))
    data = bytearray(enc.tobytes())
    i = data.find(b"\xff\xc0")
    data[i + 5 : i + 9] = struct.pack(">HH", 20000, 20000)
    assert _reason(bytes(data)).reason == "too_large"
    assert load_image(enc.tobytes()).shape == (64, 64, 3)
    assert _reason(enc.tobytes(), max_pixels=1000).reason == "too_large"


def test_gray_rgba_gray_alpha_and_16bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    out = load_image(cv2.imencode(".png", gray)[1].tobytes())
    assert out.shape == (40, 50, 3) and (out[:, :, 0] == gray).all() and (out[:, :, 2] == gray).all()

    bgr = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    bgra = np.dstack([bgr, np.full((40, 50), 255, np.uint8)])
    bgra[:10, :, 3] = 0  # fully transparent band → white
    out = load_image(cv2.imencode(".png", bgra)[1].tobytes())
    assert (out[10:] == bgr[10:]).all() and (out[:10] == 255).all()

    ga = np.dstack([gray, np.full((40, 50), 255, np.uint8)])
    p = tmp_path / "ga.png"
    p.write_bytes(
        cv2.imencode(".png", np.dstack([ga[:, :, 0], ga[:, :, 0], ga[:, :, 0], ga[:, :, 1]]))[1].tobytes()
    )
    assert load_image(p).shape == (40, 50, 3)

    bgr16 = bgr.astype(np.uint16) * 257  # 8-bit values scaled to 16 bits
    p16 = tmp_path / "deep.png"
    p16.write_bytes(cv2.imencode(".png", bgr16)[1].tobytes())
    assert cv2.imread(str(p16), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    out = load_image(p16)
    assert out.dtype == np.uint8 and (out == bgr).all()

    gray16 = gray.astype(np.uint16) * 257
    out = load_image(cv2.imencode(".png", gray16)[1].tobytes())
    assert (out[:, :, 1] == gray).all()


def test_corrupt_png_body(tmp_path: Path) -> None:
    enc = bytearray(cv2.imencode(".png", np.full((64, 64, 3), 128, np.uint8))[1].tobytes())
    i = enc.find(b"IDAT")
    enc[i + 4 : i + 40] = b"\x00" * 36
    err = _reason(bytes(enc), name="bad.png")
    assert err.reason == "decode_failed" and str(err).startswith("bad.png:")
