"""Real face embeddings for simulated people: one distinct LFW identity per person.

Each identity's photos are embedded once with the recognition pipeline (default pack) and
cached under the data dir (``<data_dir>/simulation/faces-<model>.npz``), never in the
repository. In LFW, the central face of a photo is the labelled person, so the face
nearest the image centre is taken.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from anju.errors import AnjuError

log = logging.getLogger(__name__)

LFW_SIZE = 250


class FaceBankError(AnjuError):
    """The LFW folder or the recognition models are missing."""


@dataclass(frozen=True)
class Identity:
    name: str
    vectors: np.ndarray  # n×d, L2-normalised, one per usable photo
    photos: tuple[str, ...]  # file names, same order


def list_identities(lfw_dir: Path, min_images: int) -> list[tuple[str, int]]:
    """(name, image count) of identities with at least ``min_images`` photos, most photos first."""
    if not lfw_dir.is_dir():
        raise FaceBankError(f"{lfw_dir}: LFW folder not found (expected <Name>/<Name>_NNNN.jpg)")
    out = []
    for name in sorted(os.listdir(lfw_dir)):
        p = lfw_dir / name
        if p.is_dir():
            n = sum(1 for f in os.listdir(p) if f.endswith(".jpg"))
            if n >= min_images:
                out.append((name, n))
    out.sort(key=lambda t: (-t[1], t[0]))
    return out


class FaceBank:
    """Embeddings of chosen LFW identities, computed once and cached."""

    def __init__(self, lfw_dir: Path, cache_dir: Path, model_dir: Path | None = None) -> None:
        self.lfw_dir = lfw_dir
        self.cache_dir = cache_dir
        self.model_dir = model_dir
        self._pipeline: object | None = None
        self.model_id = ""

    def _get_pipeline(self) -> object:
        if self._pipeline is None:
            from recognition.config import RecognitionConfig
            from recognition.pipeline import FacePipeline

            pipe = FacePipeline.from_config(RecognitionConfig(), self.model_dir)
            self.model_id = pipe.model_id
            self._pipeline = pipe
        return self._pipeline

    def _embed_photo(self, path: Path) -> np.ndarray | None:
        from recognition.imageio import load_image
        from recognition.pipeline import FacePipeline, frame_of

        pipe = cast(FacePipeline, self._get_pipeline())
        image = load_image(path)
        results = [r for r in pipe.analyze(frame_of(image, path.name)) if r.embedding is not None]
        if not results:
            return None
        h, w = image.shape[:2]

        def off_centre(r: object) -> float:
            box = r.detection.box  # type: ignore[attr-defined]
            return float(((box[0] + box[2]) / 2 - w / 2) ** 2 + ((box[1] + box[3]) / 2 - h / 2) ** 2)

        best = min(results, key=off_centre)
        if best.embedding is None:
            return None
        return np.asarray(best.embedding.vector, dtype=np.float32)

    def load(self, names: list[str], max_photos: int) -> dict[str, Identity]:
        """Embeddings of ``names`` (at most ``max_photos`` each), from the cache where possible."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        cache_path = self.cache_dir / "faces-faceplugin.npz"
        cached: dict[str, np.ndarray] = {}
        if cache_path.exists():
            with np.load(cache_path, allow_pickle=False) as z:
                cached = {k: z[k] for k in z.files}
        changed = False
        out: dict[str, Identity] = {}
        for name in names:
            folder = self.lfw_dir / name
            photos = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))[:max_photos]
            vecs, used = [], []
            for photo in photos:
                key = f"{name}/{photo}"
                if key not in cached:
                    v = self._embed_photo(folder / photo)
                    # A photo with no usable face is cached as a zero vector so it is not retried.
                    cached[key] = v if v is not None else np.zeros(1, dtype=np.float32)
                    changed = True
                v = cached[key]
                if v.size > 1:
                    vecs.append(v / np.linalg.norm(v))
                    used.append(photo)
            if vecs:
                out[name] = Identity(name, np.vstack(vecs).astype(np.float32), tuple(used))
        if changed:
            tmp = cache_path.with_suffix(".tmp.npz")
            np.savez(tmp, **cached)  # type: ignore[arg-type]
            os.replace(tmp, cache_path)
            log.info("face bank: %d photo embeddings cached in %s", len(cached), cache_path)
        return out
