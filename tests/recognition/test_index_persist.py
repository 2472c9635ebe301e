"""Whitelist index persistence: round trips, refusal of damaged files, SIGKILL in the middle of a save."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from bench.index_data import make_gallery
from recognition.index import IndexConfig, IndexFileError, ModelMismatchError, WhitelistIndex

ROOT = Path(__file__).resolve().parents[2]


def _gallery_index(exact_max_size: int, n: int = 1500) -> tuple[WhitelistIndex, np.ndarray]:
    gal = make_gallery(n, templates_per_identity=2, probes=200, dim=128, seed=11)
    idx = WhitelistIndex("m-128", 128, 0.42, IndexConfig(exact_max_size=exact_max_size))
    idx.apply_snapshot({f"p{i}": gal.templates[2 * i : 2 * i + 2] for i in range(n)}, 7)
    return idx, gal.probes


@pytest.mark.parametrize("exact_max_size", [100_000, 500], ids=["exact", "ivf"])
def test_save_load_round_trip(tmp_path: Path, exact_max_size: int) -> None:
    idx, probes = _gallery_index(exact_max_size)
    idx.remove("p3")
    idx.upsert("extra", probes[0:2])
    path = tmp_path / "wl.idx"
    idx.save(path)
    back = WhitelistIndex.load(path, model_id="m-128")
    assert back.tier == idx.tier and back.version == 7 and back.threshold == pytest.approx(0.42)
    assert sorted(back.persons()) == sorted(idx.persons()) and back.template_count == idx.template_count
    assert back.search_batch(probes, 5) == idx.search_batch(probes, 5)
    # the loaded index keeps working: updates, removals and a delta
    back.upsert("later", probes[5:6])
    assert back.search(probes[5]).candidates[0].person_id == "later"
    assert back.remove("extra") and "p3" not in back
    back.apply_delta({}, ["p4"], base_version=7, version=8)
    assert back.version == 8 and "p4" not in back


def test_wrong_model_and_damaged_files_are_refused(tmp_path: Path) -> None:
    idx, _ = _gallery_index(100_000, n=50)
    path = tmp_path / "wl.idx"
    idx.save(path)
    with pytest.raises(ModelMismatchError, match="m-128"):
        WhitelistIndex.load(path, model_id="other-model")
    data = path.read_bytes()
    flipped = bytearray(data)
    flipped[-100] ^= 0xFF
    (tmp_path / "flipped.idx").write_bytes(bytes(flipped))
    with pytest.raises(IndexFileError, match="checksum"):
        WhitelistIndex.load(tmp_path / "flipped.idx")
    (tmp_path / "torn.idx").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFileError, match="torn"):
        WhitelistIndex.load(tmp_path / "torn.idx")
    (tmp_path / "junk.idx").write_bytes(b"not an index at all")
    with pytest.raises(IndexFileError, match="magic"):
        WhitelistIndex.load(tmp_path / "junk.idx")
    with pytest.raises(IndexFileError, match="not found"):
        WhitelistIndex.load(tmp_path / "missing.idx")


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from recognition.index import IndexConfig, WhitelistIndex
    path, n = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(5)
    idx = WhitelistIndex("m-512", 512, 0.4, IndexConfig(exact_max_size=10**7))
    idx.apply_snapshot({f"big{i}": rng.standard_normal((4, 512), dtype=np.float32) for i in range(n)}, 2)
    sys.stdout.write("saving\\n")
    sys.stdout.flush()
    idx.save(path)
    """
)


@pytest.mark.slow
def test_sigkill_mid_save_leaves_previous_index_intact(tmp_path: Path) -> None:
    path = tmp_path / "wl.idx"
    rng = np.random.default_rng(1)
    first = WhitelistIndex("m-512", 512, 0.4)
    first.apply_snapshot({f"p{i}": rng.standard_normal((2, 512), dtype=np.float32) for i in range(100)}, 1)
    first.save(path)
    before = path.read_bytes()

    killed_mid_save = False
    n = 60_000  # 240k templates: ~1 GB to write, far longer than one poll interval
    for _attempt in range(3):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(n)], cwd=ROOT, env=env, stdout=subprocess.PIPE
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"saving"
        prefix = f"{path.name}.tmp-{child.pid}-"
        while child.poll() is None:
            temps = [p for p in tmp_path.iterdir() if p.name.startswith(prefix)]
            if temps and temps[0].stat().st_size > 0:
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                killed_mid_save = True
                break
            time.sleep(0.001)
        if killed_mid_save:
            break
        n *= 2  # the save finished before we saw it: try again with more to write
    assert killed_mid_save, "the child finished saving before it could be killed"
    assert child.returncode == -signal.SIGKILL

    # a half-written temp file is there, the index file itself is untouched and loads
    assert any(p.name.startswith(prefix) for p in tmp_path.iterdir())
    assert path.read_bytes() == before
    loaded = WhitelistIndex.load(path, model_id="m-512")
    assert loaded.version == 1 and len(loaded) == 100 and loaded.template_count == 200
    probe = first.search(rng.standard_normal(512).astype(np.float32))
    assert probe.candidates  # the original still answers
    # the next save removes the dead process's temp file
    loaded.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["wl.idx"]
