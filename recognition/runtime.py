"""ONNX Runtime sessions for the pipeline's models, with load errors turned into ModelError.

Some published face models carry *denormal* float32 weights (|w| < 1.18e-38; the
faceplugin embedder has 8,948 of them). x86 CPUs handle denormals in microcode,
which made that embedder ~4× slower than it should be. They are flushed to zero
in memory before the session is built: the outputs are unchanged to float32
precision (checked in the tests), the file on disk keeps its pinned checksum.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from models.errors import ModelError

log = logging.getLogger(__name__)

_TINY = np.finfo(np.float32).tiny


def flush_denormals(data: bytes, name: str = "") -> tuple[bytes, int]:
    """The model with denormal float32 initializers set to zero, and how many there were."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    count = 0
    for init in model.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        mask = (arr != 0) & (np.abs(arr) < _TINY)
        n = int(mask.sum())
        if n:
            arr = arr.copy()
            arr[mask] = 0.0
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
            count += n
    if not count:
        return data, 0
    log.debug("%s: flushed %d denormal weights to zero", name, count)
    return model.SerializeToString(), count


def make_session(path: Path, *, intra_op_threads: int = 1, inter_op_threads: int = 1) -> Any:
    """A CPU InferenceSession for ``path``; a file ONNX Runtime cannot load raises ModelError."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model: {exc.strerror or exc}") from exc
    try:
        data, _ = flush_denormals(data, str(path))
    except Exception as exc:  # onnx raises DecodeError and friends for files that are not models
        raise ModelError(
            f"{path}: ONNX Runtime cannot load this model: not a valid ONNX file ({exc})"
        ) from exc
    try:
        return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for broken files
        raise ModelError(f"{path}: ONNX Runtime cannot load this model: {exc}") from exc
