"""The edge outbox: durable, ordered, bounded, never dropping silently."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from anju.clock import FakeClock
from contracts.messages import (
    OutboxOverflowEvent,
    PassEvent,
    PersonKind,
    Severity,
    StrangerEvent,
    WatchlistHitEvent,
    parse_event,
)
from gateway.outbox import Outbox, OutboxError


def _pass(outbox: Outbox, clock: FakeClock, severity: Severity = Severity.info) -> PassEvent:
    return PassEvent(
        event_id=uuid.uuid4(),
        site_id="site-1",
        node_id="gate-a",
        seq=outbox.next_seq(),
        captured_at=clock.now(),
        severity=severity,
        camera_id="cam-1",
        person_id="p-1",
        person_kind=PersonKind.owner,
    )


def test_put_survives_reopen_in_order_with_seq_continuing(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Outbox(tmp_path / "o.db", 1 << 20, clock)
    events = [_pass(box, clock) for _ in range(5)]
    for ev in events:
        box.put(ev)
    box.close()
    again = Outbox(tmp_path / "o.db", 1 << 20, clock)
    items = again.peek(0, 100)
    assert [parse_event(i.body) for i in items] == events
    assert [i.seq for i in items] == [0, 1, 2, 3, 4]
    assert again.next_seq() == 5
    assert again.depth() == 5


def test_remove_seqs_frees_space_and_next_seq_never_goes_back(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Outbox(tmp_path / "o.db", 1 << 20, clock)
    box.put_many([_pass(box, clock) for _ in range(10)])
    used = box.bytes_used()
    assert box.remove_seqs([(0, 3), (8, 20)]) == 6
    assert [i.seq for i in box.peek(0, 100)] == [4, 5, 6, 7]
    assert box.bytes_used() < used
    assert box.remove_seqs([(4, 7)]) == 4
    box.close()
    # Emptied outbox: the persisted counter keeps seq increasing across restarts.
    again = Outbox(tmp_path / "o.db", 1 << 20, clock)
    assert again.depth() == 0
    assert again.next_seq() == 10


def test_full_outbox_drops_oldest_low_severity_first_and_says_so(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
    box = Outbox(tmp_path / "o.db", 64 * 1024, clock)
    high = WatchlistHitEvent(
        event_id=uuid.uuid4(),
        site_id="site-1",
        node_id="gate-a",
        seq=box.next_seq(),
        captured_at=clock.now(),
        camera_id="cam-1",
        person_id="w-1",
        score=0.9,
    )
    box.put(high)
    first_low_at = clock.now() + timedelta(seconds=1)
    n = 0
    while box.dropped_total() == 0:
        clock.advance(1)
        box.put(_pass(box, clock))
        n += 1
        assert n < 10_000
    assert box.bytes_used() <= box.max_bytes
    items = [parse_event(i.body) for i in box.peek(0, 100_000)]
    # The high-severity event stayed; an overflow event names what went and from when.
    assert items[0] == high
    overflow = [e for e in items if isinstance(e, OutboxOverflowEvent)]
    assert len(overflow) == 1
    assert overflow[0].dropped == box.dropped_total()
    assert overflow[0].oldest_dropped_at == first_low_at
    assert overflow[0].severity is Severity.high
    remaining_low = [e for e in items if isinstance(e, PassEvent)]
    assert remaining_low[0].captured_at > first_low_at  # the oldest went first
    assert len({e.seq for e in items}) == len(items)


def test_event_larger_than_the_bound_is_refused_loudly(tmp_path: Path) -> None:
    clock = FakeClock()
    with pytest.raises(OutboxError, match="minimum"):
        Outbox(tmp_path / "small.db", 1000, clock)
    box = Outbox(tmp_path / "o.db", 8192, clock)
    ev = _pass(box, clock)
    huge = StrangerEvent(
        event_id=uuid.uuid4(),
        site_id="site-1",
        node_id="gate-a",
        seq=box.next_seq(),
        captured_at=clock.now(),
        camera_id="cam-1",
        track_id=1,
        best_score=0.1,
        quality=0.9,
        embedding_b64="A" * 8000,
    )
    box.put(ev)
    with pytest.raises(OutboxError, match="more than half"):
        box.put(huge)
    assert [i.seq for i in box.peek()] == [ev.seq]  # nothing else touched
