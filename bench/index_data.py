"""Synthetic galleries shaped like real face embeddings, for ``anju bench index`` and the index tests.

Uniform random unit vectors are an unrealistic worst case for an approximate
index (no identity has a neighbourhood). Real 512-d face embeddings (ArcFace,
MobileFaceNet) have two properties that matter here:

* genuine pairs (two photos of one person) score a cosine of about 0.4-0.8,
  mean ≈ 0.6; impostor pairs score ≈ 0 with a standard deviation of ≈ 0.07-0.1
  and a heavy upper tail;
* the vectors are anisotropic: a few directions carry most of the variance
  between identities.

The generator reproduces both. Identity centres are Gaussian with a power-law
spectrum (standard deviation of dimension i ∝ i^-``spectrum_exponent``, then
L2-normalised), which gives the impostor spread and tail. A template or probe
is ``normalise(centre + σ·g/√d)`` with ``g ~ N(0, I)`` and σ drawn uniformly
from ``sigma_range`` per sample; the cosine of two samples of one identity is
then ≈ 1/(1+σ²), so σ ∈ [0.6, 1.0] gives genuine scores ≈ 0.45-0.75, mean ≈ 0.61.
:func:`similarity_stats` reports the realised genuine/impostor figures, and the
benchmark prints them with its results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Gallery:
    """Row i of ``templates`` belongs to identity ``owners[i]``; probes are new samples of ``probe_owner``."""

    centres: np.ndarray
    templates: np.ndarray
    owners: np.ndarray
    probes: np.ndarray
    probe_owner: np.ndarray


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _centres(rng: np.random.Generator, n: int, dim: int, exponent: float, chunk: int = 65536) -> np.ndarray:
    scales = np.arange(1, dim + 1, dtype=np.float32) ** np.float32(-exponent)
    scales *= np.float32(np.sqrt(dim) / np.linalg.norm(scales))
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        block = rng.standard_normal((hi - lo, dim), dtype=np.float32)
        block *= scales
        out[lo:hi] = _normalise(block)
    return out


def samples(
    rng: np.random.Generator,
    centres: np.ndarray,
    idx: np.ndarray,
    sigma_range: tuple[float, float] = (0.6, 1.0),
    chunk: int = 65536,
) -> np.ndarray:
    """New noisy samples (one per entry of ``idx``) of the given identities."""
    dim = centres.shape[1]
    out = np.empty((idx.shape[0], dim), dtype=np.float32)
    for lo in range(0, idx.shape[0], chunk):
        hi = min(idx.shape[0], lo + chunk)
        sig = rng.uniform(sigma_range[0], sigma_range[1], (hi - lo, 1)).astype(np.float32)
        block = rng.standard_normal((hi - lo, dim), dtype=np.float32)
        block *= sig / np.float32(np.sqrt(dim))
        block += centres[idx[lo:hi]]
        out[lo:hi] = _normalise(block)
    return out


def make_gallery(
    identities: int,
    templates_per_identity: int = 1,
    probes: int = 1000,
    dim: int = 512,
    seed: int = 0,
    spectrum_exponent: float = 0.5,
    sigma_range: tuple[float, float] = (0.6, 1.0),
) -> Gallery:
    """``identities`` × ``templates_per_identity`` templates and ``probes`` probes of enrolled identities."""
    rng = np.random.default_rng(seed)
    centres = _centres(rng, identities, dim, spectrum_exponent)
    owners = np.repeat(np.arange(identities, dtype=np.int64), templates_per_identity)
    templates = samples(rng, centres, owners, sigma_range)
    probe_owner = rng.integers(0, identities, probes).astype(np.int64)
    probe_vecs = samples(rng, centres, probe_owner, sigma_range)
    return Gallery(centres, templates, owners, probe_vecs, probe_owner)


def similarity_stats(gallery: Gallery, pairs: int = 2000, seed: int = 1) -> dict[str, float]:
    """Realised genuine (probe vs own template) and impostor (probe vs random other) cosine statistics."""
    rng = np.random.default_rng(seed)
    n = min(pairs, gallery.probes.shape[0])
    first_row = np.searchsorted(gallery.owners, gallery.probe_owner[:n])
    genuine = np.einsum("ij,ij->i", gallery.probes[:n], gallery.templates[first_row])
    other = rng.integers(0, gallery.templates.shape[0], n)
    keep = gallery.owners[other] != gallery.probe_owner[:n]
    impostor = np.einsum("ij,ij->i", gallery.probes[:n][keep], gallery.templates[other[keep]])
    return {
        "genuine_mean": round(float(genuine.mean()), 4),
        "genuine_p05": round(float(np.percentile(genuine, 5)), 4),
        "impostor_mean": round(float(impostor.mean()), 4),
        "impostor_std": round(float(impostor.std()), 4),
        "impostor_p999": round(float(np.percentile(impostor, 99.9)), 4),
    }
