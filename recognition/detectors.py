"""Face detectors behind one Protocol: YuNet, SCRFD, and RFB-320 + 68-point landmarks.

Each wraps an injected ONNX Runtime session and decodes that model's outputs; the
detector is chosen by configuration (``RecognitionConfig.detector``), never by
looking at tensor shapes. Five landmarks are, in image terms: left eye, right eye,
nose tip, left mouth corner, right mouth corner (the ArcFace template's order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.store import resolve
from recognition.config import RecognitionConfig
from recognition.detect_common import Detector, check_frame, to_detections
from recognition.runtime import make_session
from recognition.types import Detection


class YuNetDetector:
    """OpenCV Zoo YuNet (anchor-free heads cls/obj/bbox/kps at strides 8/16/32), BGR 0..255 input.

    Decoding follows OpenCV's ``FaceDetectorYN``: score = √(cls·obj); box centre = (cell + offset)·stride,
    size = exp(d)·stride; landmarks = (cell + offset)·stride.
    """

    name = "yunet"
    STRIDES = (8, 16, 32)

    def __init__(self, session: Any, *, score: float, iou: float, max_faces: int, max_side: int) -> None:
        self._s = session
        self._input = session.get_inputs()[0].name
        self._names = [o.name for o in session.get_outputs()]
        self.score, self.iou, self.max_faces, self.max_side = score, iou, max_faces, max_side

    def detect(self, image: np.ndarray) -> list[Detection]:
        check_frame(image)
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
        img = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA) if scale < 1.0 else image
        pw, ph = -(-rw // 32) * 32, -(-rh // 32) * 32
        padded = np.zeros((ph, pw, 3), np.float32)
        padded[:rh, :rw] = img
        blob = padded.transpose(2, 0, 1)[None]
        outs = dict(zip(self._names, self._s.run(None, {self._input: blob}), strict=True))
        boxes, kps, scores = [], [], []
        for s in self.STRIDES:
            cols, rows = pw // s, ph // s
            cls = np.clip(outs[f"cls_{s}"].reshape(-1), 0, 1)
            obj = np.clip(outs[f"obj_{s}"].reshape(-1), 0, 1)
            sc = np.sqrt(cls * obj)
            sel = np.nonzero(sc >= self.score)[0]
            if sel.size == 0:
                continue
            bb = outs[f"bbox_{s}"].reshape(-1, 4)[sel]
            kp = outs[f"kps_{s}"].reshape(-1, 10)[sel]
            c = (sel % cols).astype(np.float32)
            r = (sel // cols).astype(np.float32)
            assert rows * cols == cls.size
            cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1))
            pts = kp.reshape(-1, 5, 2).copy()
            pts[:, :, 0] = (pts[:, :, 0] + c[:, None]) * s
            pts[:, :, 1] = (pts[:, :, 1] + r[:, None]) * s
            kps.append(pts)
            scores.append(sc[sel])
        if not boxes:
            return []
        b = np.concatenate(boxes) / scale
        k = np.concatenate(kps) / scale
        return to_detections(b, k, np.concatenate(scores), self.iou, self.max_faces)


class SCRFDDetector:
    """InsightFace SCRFD with keypoints: 640×640 letterbox, RGB (px − 127.5) / 128, 2 anchors per cell.

    Outputs in InsightFace's order: scores, then box distances, then keypoint offsets, for strides 8/16/32.
    """

    name = "scrfd"
    STRIDES = (8, 16, 32)
    ANCHORS = 2

    def __init__(self, session: Any, *, score: float, iou: float, max_faces: int) -> None:
        self._s = session
        inp = session.get_inputs()[0]
        self._input = inp.name
        shape = inp.shape
        self._size = (
            (int(shape[3]), int(shape[2]))
            if isinstance(shape[2], int) and isinstance(shape[3], int)
            else (640, 640)
        )
        self.score, self.iou, self.max_faces = score, iou, max_faces
        self._centers: dict[tuple[int, int, int], np.ndarray] = {}

    def _anchor_centers(self, fh: int, fw: int, stride: int) -> np.ndarray:
        key = (fh, fw, stride)
        if key not in self._centers:
            ys, xs = np.mgrid[:fh, :fw]
            ctr = (np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride).astype(np.float32)
            self._centers[key] = np.repeat(ctr, self.ANCHORS, axis=0)
        return self._centers[key]

    def detect(self, image: np.ndarray) -> list[Detection]:
        check_frame(image)
        h, w = image.shape[:2]
        iw, ih = self._size
        det_scale = min(iw / w, ih / h)
        nw, nh = max(1, int(w * det_scale)), max(1, int(h * det_scale))
        canvas = np.zeros((ih, iw, 3), np.uint8)
        canvas[:nh, :nw] = cv2.resize(image, (nw, nh))
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128.0, (iw, ih), (127.5, 127.5, 127.5), swapRB=True)
        outs = self._s.run(None, {self._input: blob})
        n = len(self.STRIDES)
        boxes, kps, scores = [], [], []
        for i, s in enumerate(self.STRIDES):
            sc = outs[i].reshape(-1)
            sel = np.nonzero(sc >= self.score)[0]
            if sel.size == 0:
                continue
            ctr = self._anchor_centers(ih // s, iw // s, s)[sel]
            d = outs[i + n].reshape(-1, 4)[sel] * s
            boxes.append(
                np.stack(
                    [ctr[:, 0] - d[:, 0], ctr[:, 1] - d[:, 1], ctr[:, 0] + d[:, 2], ctr[:, 1] + d[:, 3]], 1
                )
            )
            kp = outs[i + 2 * n].reshape(-1, 5, 2)[sel] * s + ctr[:, None, :]
            kps.append(kp)
            scores.append(sc[sel])
        if not boxes:
            return []
        return to_detections(
            np.concatenate(boxes) / det_scale,
            np.concatenate(kps) / det_scale,
            np.concatenate(scores),
            self.iou,
            self.max_faces,
        )


class Landmarks68:
    """68-point landmarks on a square face crop (64×64 gray, px / 256); outputs are 0..1 of the crop."""

    def __init__(self, session: Any) -> None:
        self._s = session
        self._input = session.get_inputs()[0].name

    @staticmethod
    def square(box: tuple[float, float, float, float], w: int, h: int) -> tuple[int, int, int, int]:
        """The square the model was fed with: side = box height, centred on the box, clipped to the frame."""
        x1, y1, x2, y2 = box
        side = y2 - y1
        cx = (x1 + x2) / 2
        sx1 = int(max(0.0, cx - side / 2))
        sy1 = int(max(0.0, y1))
        sx2 = int(min(float(w), cx + side / 2))
        sy2 = int(min(float(h), y2))
        return sx1, sy1, sx2, sy2

    def points68(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        h, w = image.shape[:2]
        x1, y1, x2, y2 = self.square(box, w, h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            return np.full((68, 2), np.nan, np.float32)
        crop = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
        crop = cv2.resize(crop, (64, 64)).astype(np.float32) / 256.0
        out = self._s.run(None, {self._input: crop[None, None]})[0].reshape(68, 2)
        pts = np.empty((68, 2), np.float32)
        pts[:, 0] = out[:, 0] * (x2 - x1) + x1
        pts[:, 1] = out[:, 1] * (y2 - y1) + y1
        return pts

    @staticmethod
    def five(p: np.ndarray) -> np.ndarray:
        """Eye centres (eyelid points, corners left out), nose tip, mouth corners (outer and inner lip)."""
        return np.stack(
            [
                p[[37, 38, 40, 41]].mean(axis=0),
                p[[43, 44, 46, 47]].mean(axis=0),
                p[30],
                p[[48, 60]].mean(axis=0),
                p[[54, 64]].mean(axis=0),
            ]
        ).astype(np.float32)


class RFB320Detector:
    """Ultra-Light-Fast RFB-320 (faceplugin ``fr_detect.onnx``) + ``fr_landmark.onnx`` for five points.

    The frame is resized to 320×240 without keeping the aspect ratio, (px − 127) / 128; the model's boxes
    are already decoded, as fractions of the frame.
    """

    name = "rfb320"

    def __init__(
        self, session: Any, landmarks: Landmarks68, *, score: float, iou: float, max_faces: int
    ) -> None:
        self._s = session
        self._input = session.get_inputs()[0].name
        self._lm = landmarks
        self.score, self.iou, self.max_faces = score, iou, max_faces

    def detect(self, image: np.ndarray) -> list[Detection]:
        check_frame(image)
        h, w = image.shape[:2]
        rgb = cv2.cvtColor(cv2.resize(image, (320, 240)), cv2.COLOR_BGR2RGB)
        blob = ((rgb.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
        scores, boxes = self._s.run(None, {self._input: blob})
        sc = scores[0, :, 1]
        sel = np.nonzero(sc >= self.score)[0]
        if sel.size == 0:
            return []
        b = boxes[0, sel] * np.array([w, h, w, h], np.float32)
        coarse = to_detections(b, np.zeros((len(sel), 5, 2), np.float32), sc[sel], self.iou, self.max_faces)
        out = []
        for d in coarse:
            five = self._lm.five(self._lm.points68(image, d.box))
            if np.isfinite(five).all():
                out.append(Detection(box=d.box, landmarks=five, score=d.score))
        return out


def build_detector(cfg: RecognitionConfig, model_dir: Path | None = None) -> Detector:
    """The detector named by ``cfg.detector``, loaded from ``cfg.detector_pack`` (or ``cfg.pack``)."""
    pack = cfg.detector_pack or cfg.pack
    threads = {"intra_op_threads": cfg.intra_op_threads, "inter_op_threads": cfg.inter_op_threads}
    if cfg.detector == "yunet":
        s = make_session(resolve(pack, "detector_yunet", model_dir), **threads)
        return YuNetDetector(
            s,
            score=cfg.detection_score,
            iou=cfg.nms_iou,
            max_faces=cfg.max_faces,
            max_side=cfg.detector_max_side,
        )
    if cfg.detector == "scrfd":
        s = make_session(resolve(pack, "detector_scrfd", model_dir), **threads)
        return SCRFDDetector(s, score=cfg.detection_score, iou=cfg.nms_iou, max_faces=cfg.max_faces)
    s = make_session(resolve(pack, "detector_rfb320", model_dir), **threads)
    lm = Landmarks68(make_session(resolve(pack, "landmarks68", model_dir), **threads))
    return RFB320Detector(s, lm, score=cfg.detection_score, iou=cfg.nms_iou, max_faces=cfg.max_faces)
