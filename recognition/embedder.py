"""ArcFace-style embedders: 112×112 aligned faces → L2-normalised float32 vectors.

How pixels are fed (channel order, mean, std) comes from the pack manifest; faces
are run in batches when the model's batch dimension is dynamic, one at a time
otherwise. Optional flip fusion adds the embedding of the mirrored face before
normalising. Every result carries the model id, so templates of different models
are never compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from models.registry import EmbedderParams
from recognition.types import AlignedFace, Embedding

MAX_BATCH = 32


class EmbeddingModelMismatch(ValueError):
    """Two templates from different models were about to be compared."""


class ArcFaceEmbedder:
    def __init__(
        self, session: Any, params: EmbedderParams, model_id: str, *, flip_fusion: bool = False
    ) -> None:
        self._s = session
        inp = session.get_inputs()[0]
        self._input = inp.name
        self._dynamic_batch = not isinstance(inp.shape[0], int)
        self.params = params
        self.model_id = model_id
        self.flip_fusion = flip_fusion
        out_shape = session.get_outputs()[0].shape
        self.dim = int(out_shape[-1]) if isinstance(out_shape[-1], int) else 512

    def _blob(self, images: Sequence[np.ndarray]) -> np.ndarray:
        arr = np.stack(images).astype(np.float32)
        if self.params.color == "rgb":
            arr = arr[..., ::-1]
        arr = (arr - self.params.mean) / self.params.std
        return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))

    def _run(self, blob: np.ndarray) -> np.ndarray:
        if self._dynamic_batch:
            parts = [
                self._s.run(None, {self._input: blob[i : i + MAX_BATCH]})[0]
                for i in range(0, len(blob), MAX_BATCH)
            ]
        else:
            parts = [self._s.run(None, {self._input: blob[i : i + 1]})[0] for i in range(len(blob))]
        return np.concatenate(parts).astype(np.float32).reshape(len(blob), -1)

    def vectors(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, dim) L2-normalised embeddings of 112×112 BGR uint8 faces."""
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        feats = self._run(self._blob(images))
        if self.flip_fusion:
            feats = feats + self._run(self._blob([im[:, ::-1] for im in images]))
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        out: np.ndarray = (feats / np.maximum(norms, 1e-12)).astype(np.float32)
        return out

    def embed(self, faces: Sequence[AlignedFace]) -> list[Embedding]:
        vecs = self.vectors([f.image for f in faces])
        return [Embedding(vector=v, model_id=self.model_id) for v in vecs]


def cosine(a: Embedding, b: Embedding) -> float:
    """Cosine similarity of two templates of the same model (refuses to compare different models)."""
    if a.model_id != b.model_id:
        raise EmbeddingModelMismatch(f"cannot compare templates of {a.model_id} and {b.model_id}")
    return float(np.dot(a.vector, b.vector))
