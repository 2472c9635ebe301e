"""Decoding images from files or bytes into BGR uint8 arrays, with specific errors.

The header is read before decoding so that a 20000×20000 upload is refused
without allocating a gigabyte, truncated JPEGs are refused (OpenCV would silently
return a half-grey picture), and 16-bit, grayscale and alpha images are converted
to 8-bit BGR. JPEG EXIF orientation is applied, as a phone's photo is meant to be seen.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from anju.errors import AnjuError

DEFAULT_MAX_PIXELS = 50_000_000  # 8K×6K; more is a mistake or an attack on memory
DEFAULT_MIN_SIDE = 32  # a face needs more pixels than this to be recognised


class ImageError(AnjuError):
    """An image cannot be used; ``reason`` is a short machine-readable cause."""

    exit_code = 2

    def __init__(self, source: str, reason: str, detail: str) -> None:
        super().__init__(f"{source}: {detail}")
        self.source = source
        self.reason = (
            reason  # unreadable | empty | not_an_image | truncated | too_small | too_large | decode_failed
        )


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _SOF:
            if i + 9 > n:
                return None
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + seg_len
    return None


def _jpeg_complete(data: bytes) -> bool:
    # A complete JPEG ends with the EOI marker; some encoders pad with zeros after it.
    return data.rstrip(b"\x00").endswith(b"\xff\xd9")


def _png_complete(data: bytes) -> bool:
    return b"IEND" in data[-64:]


def _to_bgr8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)  # keep the top byte: exact for 8→16-bit scaled images
    elif img.dtype in (np.float32, np.float64):
        img = np.clip(img * (255.0 if float(img.max(initial=0.0)) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    channels = img.shape[2]
    if channels == 1:
        return np.asarray(cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR))
    if channels == 2:  # gray + alpha
        return _composite(np.asarray(cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)), img[:, :, 1])
    if channels == 4:
        return _composite(img[:, :, :3], img[:, :, 3])
    return img


def _composite(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Blend onto white: transparent backgrounds of ID photos become white, not black."""
    a = alpha.astype(np.float32)[:, :, None] / 255.0
    out = color.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.asarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def load_image(
    source: Path | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    name: str | None = None,
) -> np.ndarray:
    """Decode ``source`` (a path or the file's bytes) into an H×W×3 BGR uint8 array.

    Raises :class:`ImageError` naming the source and the reason.
    """
    label = name or (str(source) if isinstance(source, Path) else "<image bytes>")
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except FileNotFoundError:
            raise ImageError(label, "unreadable", "file not found") from None
        except IsADirectoryError:
            raise ImageError(label, "unreadable", "is a directory, not an image file") from None
        except OSError as exc:
            raise ImageError(label, "unreadable", f"cannot read: {exc.strerror or exc}") from exc
    else:
        data = bytes(source)
    if not data:
        raise ImageError(label, "empty", "empty file (0 bytes)")
    fmt = _sniff(data)
    if fmt is None:
        raise ImageError(
            label,
            "not_an_image",
            f"not an image (unrecognised format, starts with {data[:8]!r}); use JPEG or PNG",
        )
    size = _png_size(data) if fmt == "png" else _jpeg_size(data) if fmt == "jpeg" else None
    if size is not None:
        _check_size(label, size[0], size[1], max_pixels, min_side)
    if fmt == "jpeg" and not _jpeg_complete(data):
        raise ImageError(
            label, "truncated", "truncated JPEG (no end-of-image marker): the file was cut short"
        )
    if fmt == "png" and not _png_complete(data):
        raise ImageError(label, "truncated", "truncated PNG (no IEND chunk): the file was cut short")
    buf = np.frombuffer(data, dtype=np.uint8)
    # JPEG: IMREAD_COLOR applies EXIF orientation; others: keep depth and alpha to convert them properly.
    flags = cv2.IMREAD_COLOR if fmt == "jpeg" else cv2.IMREAD_UNCHANGED
    try:
        img = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise ImageError(label, "decode_failed", f"cannot decode {fmt.upper()}: {exc}") from exc
    if img is None or img.size == 0:
        raise ImageError(label, "decode_failed", f"cannot decode {fmt.upper()}: the data is corrupt")
    _check_size(label, int(img.shape[1]), int(img.shape[0]), max_pixels, min_side)
    return np.ascontiguousarray(_to_bgr8(img))


def _check_size(label: str, w: int, h: int, max_pixels: int, min_side: int) -> None:
    if w < min_side or h < min_side:
        raise ImageError(
            label, "too_small", f"image too small: {w}×{h} pixels, need at least {min_side}×{min_side}"
        )
    if w * h > max_pixels:
        raise ImageError(
            label,
            "too_large",
            f"image too large: {w}×{h} = {w * h / 1e6:.0f} megapixels, limit {max_pixels / 1e6:.0f}",
        )
