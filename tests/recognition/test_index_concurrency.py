"""Searches running while deltas and snapshots are applied never see a half-applied update."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from recognition.index import IndexConfig, WhitelistIndex

DIM = 64


@pytest.mark.parametrize("exact_max_size", [100_000, 1_000], ids=["exact", "ivf"])
def test_searches_see_updates_whole(exact_max_size: int) -> None:
    rng = np.random.default_rng(3)
    background = rng.standard_normal((3000, DIM)).astype(np.float32)
    u, w = rng.standard_normal((2, DIM)).astype(np.float32)
    u /= np.linalg.norm(u)
    w /= np.linalg.norm(w)
    idx = WhitelistIndex("m", DIM, 0.5, IndexConfig(exact_max_size=exact_max_size))
    entries = {f"bg{i}": background[i] for i in range(3000)}
    # "a" and "b" always hold the same vector: u at even versions, w at odd ones
    idx.apply_snapshot({**entries, "a": u, "b": u}, 2)

    errors: list[str] = []
    done = threading.Event()
    started = threading.Barrier(3)
    counts = [0, 0]

    def searcher(slot: int) -> None:
        started.wait()
        while not done.is_set():
            for res in (idx.search(u, k=2), idx.search_batch(np.stack([u, w]), k=2)[0]):
                hits = {m.person_id for m in res.candidates if m.score > 0.9}
                if hits not in (set(), {"a", "b"}):
                    errors.append(f"half-applied update seen: {res.candidates}")
                counts[slot] += 1

    threads = [threading.Thread(target=searcher, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    started.wait()
    try:
        version = 2
        for step in range(60):
            vec = w if version % 2 == 0 else u  # the vector of version + 1
            if step % 20 == 19:
                idx.apply_snapshot({**entries, "a": vec, "b": vec}, version + 1)
            else:
                idx.apply_delta(
                    {"a": vec[None], "b": vec[None]}, [], base_version=version, version=version + 1
                )
            version += 1
            # the writer's own view is always consistent too
            assert {m.person_id for m in idx.search(vec, k=2).candidates} == {"a", "b"}
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert idx.version == 62 and idx.tier == ("exact" if exact_max_size > 3002 else "ivf")
    assert all(c > 0 for c in counts)


def test_searches_answer_from_the_old_index_while_a_snapshot_builds() -> None:
    rng = np.random.default_rng(4)
    old = rng.standard_normal((50, DIM)).astype(np.float32)
    idx = WhitelistIndex("m", DIM, 0.5, IndexConfig(exact_max_size=1_000))
    idx.apply_snapshot({f"old{i}": old[i] for i in range(50)}, 1)
    big = {f"new{i}": v for i, v in enumerate(rng.standard_normal((60_000, DIM)).astype(np.float32))}

    builder = threading.Thread(target=idx.apply_snapshot, args=(big, 2))
    builder.start()
    seen_during_build = 0
    try:
        while builder.is_alive():
            if idx._mutate.locked() and idx.version == 1:
                res = idx.search(old[7], k=1)
                if builder.is_alive() and idx.version == 1:
                    assert res.candidates[0].person_id == "old7"
                    seen_during_build += 1
                    if seen_during_build >= 3:
                        break
    finally:
        builder.join()
    assert seen_during_build >= 1, "the snapshot finished before a search could overlap it"
    assert idx.version == 2 and len(idx) == 60_000 and idx.tier == "ivf"
    assert idx.search(big["new5"], k=1).candidates[0].person_id == "new5"
