"""Central's Ed25519 signing key (whitelists, visitor passes, house QR codes).

``central_signer(settings)`` loads ``settings.signing_key_path`` (default
``<data_dir>/keys/central_ed25519.pem``), creating it on first use. ``app_signer(app)`` caches it
on ``app.state.services.signer``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from central.settings import CentralSettings
from gateway.signing import CENTRAL_SIGNER_ID, Signer, load_or_create_private_key

_lock = threading.Lock()


def key_path(settings: CentralSettings) -> Path:
    return settings.signing_key_path or settings.data_dir / "keys" / "central_ed25519.pem"


def central_signer(settings: CentralSettings) -> Signer:
    return Signer(CENTRAL_SIGNER_ID, load_or_create_private_key(key_path(settings)))


def app_signer(app: Any) -> Signer:
    """The app's cached signer (thread-safe first load)."""
    services = app.state.services
    with _lock:
        if services.signer is None:
            services.signer = central_signer(app.state.settings)
        signer: Signer = services.signer
    return signer
