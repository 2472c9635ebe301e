"""FacePipeline: detector → alignment → quality → embedding (→ liveness), built from config.

One pipeline owns its ONNX Runtime sessions and is meant for one worker thread
(sessions are thread-safe for ``run``, but batching decisions belong to the caller).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from models.calibration import calibration_path, load_calibration
from models.errors import ModelError
from models.registry import EmbedderParams, get_pack, model_id
from models.store import resolve
from recognition.align import align as align_face
from recognition.config import RecognitionConfig
from recognition.detect_common import Detector
from recognition.detectors import build_detector
from recognition.embedder import ArcFaceEmbedder
from recognition.fusion import FusionEmbedder
from recognition.liveness import LivenessModel
from recognition.quality import assess
from recognition.runtime import make_session
from recognition.types import AlignedFace, Detection, Embedding, FaceResult, Frame, Liveness, Quality

log = logging.getLogger(__name__)


class FacePipeline:
    def __init__(
        self,
        cfg: RecognitionConfig,
        detector: Detector,
        embedder: ArcFaceEmbedder,
        liveness_model: LivenessModel | None,
        match_threshold: float,
        *,
        open_set_threshold: float | None = None,
        fusion: FusionEmbedder | None = None,
    ) -> None:
        self.cfg = cfg
        self.detector = detector
        self.embedder = embedder
        self.liveness_model = liveness_model
        self.fusion = fusion
        self._match_threshold = match_threshold
        self._open_set_threshold = open_set_threshold if open_set_threshold is not None else match_threshold
        # where the thresholds came from: config | calibration | manifest | manifest-unmeasured | caller
        self.threshold_source = "caller"

    @classmethod
    def from_config(cls, cfg: RecognitionConfig, model_dir: Path | None = None) -> FacePipeline:
        """Load the models named by ``cfg`` from the model cache (verified against the manifest)."""
        pack = get_pack(cfg.pack)
        for name in {cfg.pack, cfg.detector_pack or cfg.pack}:
            if not get_pack(name).commercial_use:
                log.warning(
                    "model pack %s is licensed for non-commercial use only: %s", name, get_pack(name).license
                )
        threads = {"intra_op_threads": cfg.intra_op_threads, "inter_op_threads": cfg.inter_op_threads}
        detector = build_detector(cfg, model_dir)
        emb_file = pack.file("embedder")
        if emb_file.embedder is None:
            raise ModelError(
                f"model pack {cfg.pack!r}: the manifest's embedder entry lacks preprocessing parameters"
            )
        embedder = ArcFaceEmbedder(
            make_session(resolve(cfg.pack, "embedder", model_dir), **threads),
            emb_file.embedder,
            model_id(cfg.pack, emb_file),
            flip_fusion=cfg.flip_fusion,
        )
        live = None
        if pack.has_role("liveness"):
            live = LivenessModel(
                make_session(resolve(cfg.pack, "liveness", model_dir), **threads), cfg.liveness_threshold
            )
        match, open_set, source = _thresholds(cfg, emb_file.embedder, embedder.model_id, model_dir)
        log.info(
            "pack %s: match threshold %.4f, open-set threshold %.4f (%s)", cfg.pack, match, open_set, source
        )
        fusion = FusionEmbedder.from_config(cfg, embedder, model_dir) if cfg.fusion else None
        pipe = cls(cfg, detector, embedder, live, match, open_set_threshold=open_set, fusion=fusion)
        pipe.threshold_source = source
        return pipe

    @property
    def model_id(self) -> str:
        """Id of the embedding model: ``pack/file@sha256-prefix``; stored with every template."""
        return self.embedder.model_id

    @property
    def open_set_threshold(self) -> float:
        """Cosine threshold for a 1:N whitelist search (gates): the pack's FPIR-calibrated value,
        higher than the 1:1 ``match_threshold`` because a probe is compared with every enrolled
        person. The config's ``match_threshold`` override wins when set."""
        return self._open_set_threshold

    @property
    def match_threshold(self) -> float:
        """Cosine threshold for a match: the pack's calibrated value (see the manifest's
        ``threshold_note``) or the config's override."""
        return self._match_threshold

    def detect(self, frame: Frame) -> list[Detection]:
        return self.detector.detect(frame.image)

    def align(self, frame: Frame, det: Detection) -> AlignedFace:
        return align_face(frame.image, det)

    def quality(self, frame: Frame, det: Detection, aligned: AlignedFace | None = None) -> Quality:
        face = aligned if aligned is not None else self.align(frame, det)
        return assess(det, face.image, frame.image.shape, self.cfg)

    def embed(self, faces: list[AlignedFace]) -> list[Embedding]:
        return self.embedder.embed(faces)

    def embed_frame(self, frame: Frame, dets: list[Detection], faces: list[AlignedFace]) -> list[Embedding]:
        """Templates of ``dets`` (aligned as ``faces``) in ``frame``: fused over the configured extra
        alignments when ``cfg.fusion`` is set (same model id), else the plain embeddings."""
        if self.fusion is None:
            return self.embed(faces)
        return self.fusion.embed(frame.image, dets, faces)

    def liveness(self, frame: Frame, det: Detection) -> Liveness:
        if self.liveness_model is None:
            raise ModelError(f"model pack {self.cfg.pack!r} has no liveness model; use a pack that has one")
        return self.liveness_model.score(frame.image, det)

    def analyze(self, frame: Frame, *, embed: bool = True, liveness: bool = False) -> list[FaceResult]:
        """Every face in the frame with quality, and optionally embedding and liveness (best score first)."""
        dets = self.detect(frame)
        faces = [self.align(frame, d) for d in dets]
        results = [
            FaceResult(detection=d, quality=self.quality(frame, d, f), aligned=f)
            for d, f in zip(dets, faces, strict=True)
        ]
        if embed and faces:
            for r, e in zip(results, self.embed_frame(frame, dets, faces), strict=True):
                r.embedding = e
        if liveness and self.liveness_model is not None:
            for r in results:
                r.liveness = self.liveness(frame, r.detection)
        return results


def _thresholds(
    cfg: RecognitionConfig, params: EmbedderParams, embedder_id: str, model_dir: Path | None
) -> tuple[float, float, str]:
    """(1:1 threshold, 1:N threshold, source): config override, else the site calibration in the model
    cache (when it was measured with this very embedder file), else the manifest's figures."""
    if cfg.match_threshold is not None:
        return cfg.match_threshold, cfg.match_threshold, "config"
    cal = load_calibration(cfg.pack, model_dir)
    path = calibration_path(cfg.pack, model_dir)
    if cal is not None and cal.model_id != embedder_id:
        log.warning(
            "%s: calibration measured with %s, not with the installed embedder %s; ignored "
            "(re-run `anju recognition calibrate --pack %s`)",
            path,
            cal.model_id,
            embedder_id,
            cfg.pack,
        )
        cal = None
    if cal is not None:
        if (cal.detector, cal.flip_fusion) != (cfg.detector, cfg.flip_fusion):
            log.warning(
                "%s: thresholds were calibrated with detector %s (flip fusion %s) but this pipeline uses "
                "%s (flip fusion %s); scores may differ: re-run `anju recognition calibrate --pack %s "
                "--detector %s`",
                path,
                cal.detector,
                cal.flip_fusion,
                cfg.detector,
                cfg.flip_fusion,
                cfg.pack,
                cfg.detector,
            )
        open_set = cal.open_set_threshold if cal.open_set_threshold is not None else cal.match_threshold
        return cal.match_threshold, open_set, "calibration"
    open_set = params.open_set_threshold if params.open_set_threshold is not None else params.match_threshold
    if not params.thresholds_measured:
        log.warning(
            "model pack %s: its thresholds (match %.3f, open-set %.3f) are UNMEASURED placeholders and no "
            "calibration was found at %s; gate decisions may accept strangers or reject residents. "
            "Measure them on your own labelled faces: anju recognition calibrate --pack %s --detector %s "
            "--root DIR",
            cfg.pack,
            params.match_threshold,
            open_set,
            path,
            cfg.pack,
            cfg.detector,
        )
        return params.match_threshold, open_set, "manifest-unmeasured"
    return params.match_threshold, open_set, "manifest"


def frame_of(image: np.ndarray, source_id: str = "") -> Frame:
    return Frame(image=image, source_id=source_id)
