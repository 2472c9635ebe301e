"""Make signed passes and show them as camera frames (for the QR tests)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import cv2
import numpy as np
import qrcode

from contracts.passes import PassKind, PassPayload, encode_pass
from gateway.signing import CENTRAL_SIGNER_ID, Signer, generate_private_key


def central_signer() -> Signer:
    return Signer(CENTRAL_SIGNER_ID, generate_private_key())


def make_pass(signer: Signer, *, now: datetime | None = None, **kw: Any) -> str:
    now = now or datetime.now(timezone.utc)
    fields: dict[str, Any] = {
        "pass_id": "vp-0001",
        "site_id": "site-1",
        "kind": PassKind.visitor,
        "holder": "张*",
        "host_household_id": "hh-12-301",
        "valid_from": now - timedelta(minutes=5),
        "valid_until": now + timedelta(hours=4),
    }
    fields.update(kw)
    return encode_pass(PassPayload(**fields), signer.sign)


def qr_frame(token: str, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A camera-sized BGR frame with the pass held up in the middle (as a phone screen would be)."""
    qr = qrcode.QRCode(border=4, box_size=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(token)
    qr.make(fit=True)
    matrix = np.array(qr.get_matrix(), dtype=bool)
    img = np.where(matrix, 0, 255).astype(np.uint8)
    scale = max(1, 300 // img.shape[0])
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    w, h = size
    frame = np.full((h, w, 3), 90, np.uint8)
    y0, x0 = (h - img.shape[0]) // 2, (w - img.shape[1]) // 2
    frame[y0 : y0 + img.shape[0], x0 : x0 + img.shape[1]] = img[..., None]
    return frame
