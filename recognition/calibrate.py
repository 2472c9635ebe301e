"""Measuring a pack's thresholds on the operator's own labelled faces (``anju recognition calibrate``).

One embedding pass over a folder of ``<person>/<images>`` gives both figures:

- the 1:1 threshold at FAR 1e-3, from the pairs of an LFW-style ``pairs.txt`` when one is
  given, else from every same-person pair (at most ``max_genuine_per_person`` per person,
  so one person with hundreds of photos does not dominate) and ``impostor_pairs`` random
  pairs of different persons;
- the 1:N open-set threshold at FPIR 1e-2, enrolling the first image of ``gallery``
  persons with two or more images and searching every other image (mated: persons
  enrolled; non-mated: persons not enrolled), as ``anju recognition eval openset``.

Images without a detected face are left out of both (reported), unlike the LFW protocol,
which must score every pair. Too few impostor pairs or non-mated probes for the targeted
rate is reported as a warning in the result, because the threshold is then set by a
handful of scores.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anju.clock import Clock
from models.calibration import Calibration
from recognition.config import RecognitionConfig
from recognition.evalrun import embed_images
from recognition.metrics import EvalDataError, open_set, parse_lfw_pairs, tar_at_far

log = logging.getLogger(__name__)

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


def list_people(root: Path) -> dict[str, list[Path]]:
    """person → sorted image paths of a folder of ``<person>/<images>`` (persons without images left out)."""
    if not root.is_dir():
        raise EvalDataError(f"{root}: not a folder")
    people = {
        d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        for d in sorted(root.iterdir())
        if d.is_dir()
    }
    return {k: v for k, v in people.items() if v}


@dataclass(frozen=True)
class OpenSetSplit:
    gallery_people: list[str]
    gallery_images: list[Path]
    probes: list[Path]
    probe_ids: list[str]


def open_set_split(people: dict[str, list[Path]], gallery: int, seed: int, root: Path) -> OpenSetSplit:
    """Enrol the first image of ``gallery`` random persons with ≥ 2 images; all other images are probes."""
    multi = sorted(k for k, v in people.items() if len(v) >= 2)
    if len(multi) < gallery:
        raise EvalDataError(
            f"{root}: only {len(multi)} people have two or more images; --gallery {gallery} needs that many"
        )
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(multi, size=gallery, replace=False).tolist()) if gallery else []
    enrolled = set(chosen)
    probes: list[Path] = []
    probe_ids: list[str] = []
    for k, imgs in people.items():
        rest = imgs[1:] if k in enrolled else imgs
        probes += rest
        probe_ids += [k] * len(rest)
    return OpenSetSplit(chosen, [people[k][0] for k in chosen], probes, probe_ids)


def folder_pairs(
    people: dict[str, list[Path]], *, max_genuine_per_person: int, impostor_pairs: int, seed: int
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    """Same-person pairs (capped per person) and random different-person pairs of a labelled folder."""
    rng = np.random.default_rng(seed)
    genuine: list[tuple[Path, Path]] = []
    for imgs in people.values():
        pp = list(itertools.combinations(imgs, 2))
        if len(pp) > max_genuine_per_person:
            pick = rng.choice(len(pp), size=max_genuine_per_person, replace=False)
            pp = [pp[i] for i in sorted(pick)]
        genuine += pp
    flat = [p for imgs in people.values() for p in imgs]
    owner = np.array([i for i, imgs in enumerate(people.values()) for _ in imgs])
    n = len(flat)
    total = n * (n - 1) // 2 - sum(len(v) * (len(v) - 1) // 2 for v in people.values())
    impostor: list[tuple[Path, Path]] = []
    if total <= impostor_pairs:  # small folder: every different-person pair
        for i, j in itertools.combinations(range(n), 2):
            if owner[i] != owner[j]:
                impostor.append((flat[i], flat[j]))
        return genuine, impostor
    seen: set[tuple[int, int]] = set()
    while len(seen) < impostor_pairs:
        ij = np.sort(rng.integers(0, n, size=(2 * impostor_pairs, 2)), axis=1)
        ij = ij[owner[ij[:, 0]] != owner[ij[:, 1]]]
        for i, j in ij.tolist():
            seen.add((i, j))
            if len(seen) == impostor_pairs:
                break
    impostor = [(flat[i], flat[j]) for i, j in sorted(seen)]
    return genuine, impostor


def _scores(vec: dict[Path, np.ndarray], pairs: Sequence[tuple[Path, Path]]) -> np.ndarray:
    kept = [(a, b) for a, b in pairs if a in vec and b in vec]
    if not kept:
        return np.zeros(0, np.float32)
    a = np.stack([vec[p] for p, _ in kept])
    b = np.stack([vec[q] for _, q in kept])
    out: np.ndarray = (a * b).sum(axis=1)
    return out


def calibrate(
    cfg: RecognitionConfig,
    root: Path,
    clock: Clock,
    *,
    pairs_file: Path | None = None,
    gallery: int = 1000,
    far: float = 1e-3,
    fpir: float = 1e-2,
    seed: int = 0,
    max_genuine_per_person: int = 50,
    impostor_pairs: int = 100_000,
    model_dir: Path | None = None,
    workers: int | None = None,
) -> Calibration:
    """Measure ``cfg.pack``'s 1:1 threshold at ``far`` and its 1:N threshold at ``fpir`` on ``root``."""
    people = list_people(root)
    if not people:
        raise EvalDataError(f"{root}: no <person>/<image> files found")
    if pairs_file is not None:
        lfw = parse_lfw_pairs(pairs_file)
        genuine = [(root / p.a, root / p.b) for p in lfw if p.same]
        impostor = [(root / p.a, root / p.b) for p in lfw if not p.same]
        missing = sorted({str(q) for pr in genuine + impostor for q in pr if not q.is_file()})
        if missing:
            raise EvalDataError(
                f"{pairs_file}: {len(missing)} images of the pairs file are missing under {root}, "
                f"e.g. {missing[0]}"
            )
    else:
        genuine, impostor = folder_pairs(
            people, max_genuine_per_person=max_genuine_per_person, impostor_pairs=impostor_pairs, seed=seed
        )
    split = open_set_split(people, gallery, seed, root) if gallery > 0 else None
    needed = {q for pr in genuine + impostor for q in pr}
    if split is not None:
        needed |= set(split.gallery_images) | set(split.probes)
    images = sorted(needed)
    log.info("calibrating pack %s on %d images of %s", cfg.pack, len(images), root)
    res = embed_images(images, cfg, model_dir, workers)
    failed = set(res.failed)
    vec = {p: res.vectors[i] for i, p in enumerate(images) if str(p) not in failed}
    warnings: list[str] = []
    if failed:
        warnings.append(f"{len(failed)} of {len(images)} images had no detected face and were left out")

    gen_s, imp_s = _scores(vec, genuine), _scores(vec, impostor)
    if len(gen_s) == 0 or len(imp_s) == 0:
        raise EvalDataError(
            f"{root}: need same-person and different-person pairs with detected faces "
            f"(got {len(gen_s)} and {len(imp_s)}); add persons with two or more images"
        )
    scores = np.concatenate([gen_s, imp_s])
    same = np.concatenate([np.ones(len(gen_s), bool), np.zeros(len(imp_s), bool)])
    tar, thr = tar_at_far(scores, same, far)
    if len(imp_s) < 10 / far:
        warnings.append(
            f"1:1 threshold from only {len(imp_s)} impostor pairs: FAR {far:g} needs at least "
            f"{int(10 / far)} for a stable figure"
        )

    open_thr: float | None = None
    fnir: float | None = None
    mated = non_mated = 0
    if split is not None:
        keep_g = [i for i, p in enumerate(split.gallery_images) if p in vec]
        keep_p = [i for i, p in enumerate(split.probes) if p in vec]
        g = np.stack([vec[split.gallery_images[i]] for i in keep_g])
        pr = np.stack([vec[split.probes[i]] for i in keep_p])
        gal_ids = np.array([split.gallery_people[i] for i in keep_g])
        probe_ids = np.array([split.probe_ids[i] for i in keep_p])
        m = open_set(pr @ g.T, probe_ids, gal_ids, (fpir,))
        key = f"{fpir:.0e}".replace("e-0", "e-")
        open_thr, fnir = m[f"threshold_at_fpir_{key}"], m[f"fnir_at_fpir_{key}"]
        mated, non_mated = int(m["mated_probes"]), int(m["non_mated_probes"])
        if non_mated < 10 / fpir:
            warnings.append(
                f"open-set threshold from only {non_mated} non-mated probes: FPIR {fpir:g} needs at "
                f"least {int(10 / fpir)} for a stable figure"
            )
    for w in warnings:
        log.warning("calibration of %s: %s", cfg.pack, w)
    return Calibration(
        pack=cfg.pack,
        model_id=res.model_id,
        detector=cfg.detector,
        flip_fusion=cfg.flip_fusion,
        match_threshold=round(thr, 4),
        far=far,
        tar_at_far=round(tar, 5),
        genuine_pairs=len(gen_s),
        impostor_pairs=len(imp_s),
        open_set_threshold=None if open_thr is None else round(open_thr, 4),
        fpir=fpir,
        fnir_at_fpir=None if fnir is None else round(fnir, 5),
        gallery=0 if split is None else len(split.gallery_people),
        mated_probes=mated,
        non_mated_probes=non_mated,
        dataset=str(root.resolve()),
        images=len(images),
        failed_images=len(failed),
        measured_at=clock.now(),
        warnings=warnings,
    )
