"""Fixtures for the edge tests: the real face pipeline, enrolled residents, a real RTSP server."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.rtsp_server import RtspServer


def load_helper(name: str) -> Any:
    """Import a sibling helper module (tests use importlib import mode, no package)."""
    mod_name = f"anju_edge_tests_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


helpers = load_helper("helpers")


@pytest.fixture(scope="session")
def pipeline() -> Any:
    from recognition.config import RecognitionConfig
    from recognition.pipeline import FacePipeline

    return FacePipeline.from_config(RecognitionConfig())


@pytest.fixture(scope="session")
def resident_persons(pipeline: Any) -> list[Any]:
    return helpers.residents(pipeline)


@pytest.fixture
def rtsp() -> Iterator[RtspServer]:
    server = RtspServer(helpers.CLIP, loops=3)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def h() -> Any:
    """The helpers module (tests run in importlib mode, so siblings are not importable by name)."""
    return helpers


@pytest.fixture(scope="session")
def qrh() -> Any:
    return load_helper("qr")
