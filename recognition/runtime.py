"""ONNX Runtime sessions for the pipeline's models, with load errors turned into ModelError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnxruntime as ort

from models.errors import ModelError


def make_session(path: Path, *, intra_op_threads: int = 1, inter_op_threads: int = 1) -> Any:
    """A CPU InferenceSession for ``path``; a file ONNX Runtime cannot load raises ModelError."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for broken files
        raise ModelError(f"{path}: ONNX Runtime cannot load this model: {exc}") from exc
