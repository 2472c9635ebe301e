"""Contract round-trips and rejections."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from pydantic import ValidationError

from contracts import PassEvent, PersonKind, Snapshot, Template, parse_event
from contracts.messages import Direction


def _pass(**over: object) -> PassEvent:
    fields: dict[str, object] = dict(
        event_id=uuid.uuid4(),
        site_id="site-1",
        node_id="gate-a",
        seq=7,
        captured_at=datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=8))),
        camera_id="cam-1",
        person_id="p-1",
        person_kind=PersonKind.tenant,
        direction=Direction.inbound,
    )
    fields.update(over)
    return PassEvent.model_validate(fields)


def test_event_round_trip_and_utc() -> None:
    ev = _pass()
    assert ev.captured_at.tzinfo is not None and ev.captured_at.utcoffset() == timedelta(0)
    back = parse_event(ev.model_dump_json())
    assert back == ev and isinstance(back, PassEvent)


def test_unknown_kind_and_extra_fields_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_event('{"kind": "teleport"}')
    with pytest.raises(ValidationError):
        parse_event(_pass().model_dump_json()[:-1] + ',"surprise":1}')


def test_naive_time_and_topic_unsafe_ids_rejected() -> None:
    with pytest.raises(ValidationError):
        _pass(captured_at=datetime(2026, 5, 1, 8, 0))
    with pytest.raises(ValidationError):
        _pass(node_id="gate/../other")
    with pytest.raises(ValidationError):
        _pass(node_id="+")


def test_snapshot_must_be_jpeg() -> None:
    assert Snapshot.from_jpeg(b"\xff\xd8\xff\xe0rest").jpeg().startswith(b"\xff\xd8")
    with pytest.raises(ValidationError):
        Snapshot(data_b64="aGVsbG8=")  # "hello"


def test_template_vector_round_trip() -> None:
    vec = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    t = Template.from_vector("fp-feature-v1", vec)
    assert np.array_equal(t.vector(), vec)
    bad = t.model_copy(update={"dim": 128})
    with pytest.raises(ValueError):
        bad.vector()
