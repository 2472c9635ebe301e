"""Fixtures for reconciliation tests: real face embeddings of LFW identities (recognition pipeline,
default faceplugin pack), computed once per test session into a temporary cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from central.simulation.faces import FaceBank, Identity, list_identities

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
LFW = SHARED / "testdata" / "lfw"


@pytest.fixture(scope="session")
def lfw_faces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Identity]:
    """Ten LFW identities with at least 12 photos each, up to 12 embeddings per identity."""
    names = [n for n, _ in list_identities(LFW, 12)[20:30]]
    bank = FaceBank(LFW, tmp_path_factory.mktemp("faces"))
    faces = bank.load(names, 12)
    assert len(faces) == 10
    return faces


def unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = (v / np.linalg.norm(v)).astype(np.float32)
    return out
