"""``anju bench index`` runs end to end on a small gallery and reports every figure the issue asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.index_data import make_gallery, similarity_stats

ROOT = Path(__file__).resolve().parents[2]


def test_generator_matches_face_embedding_statistics() -> None:
    stats = similarity_stats(make_gallery(5000, probes=2000, dim=512, seed=3))
    # genuine pairs of real 512-d face embeddings score ≈ 0.4-0.8, impostors ≈ 0 ± 0.1
    assert 0.55 < stats["genuine_mean"] < 0.67
    assert abs(stats["impostor_mean"]) < 0.02 and 0.07 < stats["impostor_std"] < 0.13


def test_bench_index_reports_figures_against_exact() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "anju.cli",
            "bench",
            "index",
            "--sizes",
            "3000",
            "--dim",
            "128",
            "--queries",
            "300",
            "--latency-queries",
            "200",
            "--exact-latency-queries",
            "50",
            "--exact-max-size",
            "1000",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    (size,) = out["sizes"]
    assert size["identities"] == 3000 and size["index"]["tier"] == "ivf"
    for part in ("exact", "index"):
        for key in ("build_s", "p50_ms", "p99_ms", "cpu_p50_ms", "bytes_per_identity", "rank1"):
            assert size[part][key] > 0, (part, key)
    assert size["index"]["recall_at_1_vs_exact"] >= 0.98
    assert size["index"]["bytes_per_identity"] < size["exact"]["bytes_per_identity"]
    assert set(size["ratios"]) >= {"p50_speedup_vs_exact", "memory_vs_exact", "build_time_vs_exact"}
