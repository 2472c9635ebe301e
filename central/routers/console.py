"""The web console: static assets served by central itself (no CDN, works offline).

``GET /`` serves the single-page console, ``GET /console/<path>`` its modules, styles,
translations and icons, and ``GET /console/sounds/alert.wav`` the alert tone, synthesised
here so no binary audio lives in the repository. Mounted at the root (not under
``/api/v1``) with :func:`mount_console`. A strict Content-Security-Policy keeps the page
to its own origin, so a forgotten CDN link fails loudly in the browser tests.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, Response

from central.errors import NotFound

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"

# Everything from our own origin; images may also be blob:/data: (snapshots, QR passes
# fetched with the bearer token); the WebSocket goes to the same host.
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: data:; "
    "connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".wav": "audio/wav",
}
# Assets change with every deployment; revalidate instead of caching stale modules.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


def _page_headers() -> dict[str, str]:
    return {**_HEADERS, "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"}


@router.get("/")
def index() -> FileResponse:
    return FileResponse(CONSOLE_DIR / "index.html", media_type=_TYPES[".html"], headers=_page_headers())


@router.get("/console")
@router.get("/console/")
def console_index() -> FileResponse:
    return index()


@lru_cache(maxsize=1)
def alert_tone(rate: int = 22050) -> bytes:
    """A two-tone alarm (880/660 Hz, three pulses, about 1 s) as a 16-bit mono WAV."""
    frames = bytearray()
    pulse = int(rate * 0.16)
    gap = int(rate * 0.04)
    for i in range(6):
        freq = 880.0 if i % 2 == 0 else 660.0
        for n in range(pulse):
            # Short linear fades avoid clicks at the pulse edges.
            env = min(1.0, n / (rate * 0.01), (pulse - n) / (rate * 0.01))
            sample = int(0.6 * 32767 * env * math.sin(2 * math.pi * freq * n / rate))
            frames += struct.pack("<h", sample)
        frames += b"\x00\x00" * gap
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return buf.getvalue()


@router.get("/console/sounds/alert.wav")
def alert_sound() -> Response:
    return Response(alert_tone(), media_type=_TYPES[".wav"], headers={"Cache-Control": "max-age=86400"})


def resolve_asset(path: str) -> Path:
    """The file under the console folder for ``path``; :class:`NotFound` for anything else.

    Refuses traversal (``..``), absolute paths, hidden files and unknown types.
    """
    if not path or "\x00" in path or "\\" in path:
        raise NotFound("文件不存在", f"console asset not found: {path!r}")
    parts = path.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise NotFound("文件不存在", f"console asset not found: {path!r}")
    candidate = (CONSOLE_DIR / path).resolve()
    if not candidate.is_relative_to(CONSOLE_DIR) or not candidate.is_file():
        raise NotFound("文件不存在", f"console asset not found: {path!r}")
    if candidate.suffix not in _TYPES:
        raise NotFound("文件不存在", f"console asset type not served: {path!r}")
    return candidate


@router.get("/console/{path:path}")
def asset(path: str) -> FileResponse:
    file = resolve_asset(path)
    headers = _page_headers() if file.suffix == ".html" else dict(_HEADERS)
    return FileResponse(file, media_type=_TYPES[file.suffix], headers=headers)


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/`` and ``/console/…`` (call once from ``create_app``)."""
    if getattr(app.state, "console_mounted", False):
        return
    app.include_router(router)
    app.state.console_mounted = True
