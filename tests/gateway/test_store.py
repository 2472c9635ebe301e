"""Central's gateway store on SQLite and PostgreSQL: idempotent, exact payloads, bounded dead letters."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from contracts.messages import PassEvent, PersonKind
from gateway.store import Accepted, DeadLetter, SqlEventStore, gateway_events

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)


def _acc(seq: int, **over: Any) -> Accepted:
    fields: dict[str, Any] = dict(
        event_id=uuid.uuid4(),
        site_id="site-1",
        node_id="gate-a",
        seq=seq,
        captured_at=NOW - timedelta(seconds=seq),
        camera_id="cam-1",
        person_id=f"p-{seq}",
        person_kind=PersonKind.tenant,
    )
    fields.update(over)
    ev = PassEvent(**fields)
    return Accepted(event=ev, payload=ev.model_dump_json())


def test_insert_is_idempotent_and_reports_new_events_once(store: SqlEventStore) -> None:
    batch = [_acc(i) for i in range(50)]
    first = store.store(batch + batch[:5], [], NOW)  # duplicates inside one batch too
    assert [e.event_id for e in first.inserted] == [a.event.event_id for a in batch]
    assert len(first.duplicates) == 5
    again = store.store(batch, [], NOW)
    assert again.inserted == [] and len(again.duplicates) == 50
    assert store.count_events() == 50
    assert store.node_high_seq("site-1", "gate-a") == 49


def test_payload_round_trips_exactly(store: SqlEventStore) -> None:
    tricky = _acc(1, person_id='张三\\"\t\n\u0001 x', pass_id="a\\b\\\\c")
    store.store([tricky], [], NOW)
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(gateway_events.c.payload, gateway_events.c.kind, gateway_events.c.captured_at).where(
                gateway_events.c.event_id == str(tricky.event.event_id)
            )
        ).one()
    assert row.payload == tricky.event.model_dump(mode="json")
    assert PassEvent.model_validate(row.payload) == tricky.event
    assert row.kind == "pass"


def test_dead_letters_are_bounded_and_keep_reason(store: SqlEventStore) -> None:
    huge = b"x" * 100_000
    store.store([], [DeadLetter("anju/v1/s/n/events/pass", huge, "oversized", "100000 bytes", NOW)], NOW)
    (letter,) = store.dead_letters()
    assert letter.reason == "oversized" and len(letter.payload) == 16 * 1024
    with store.engine.connect() as conn:
        size = conn.execute(sa.text("SELECT payload_size FROM gateway_dead_letters")).scalar_one()
    assert size == 100_000


def test_old_seq_beyond_window_is_a_replay(store: SqlEventStore) -> None:
    store.store([_acc(5000)], [], NOW, seq_window=100)
    result = store.store([_acc(10), _acc(4950)], [], NOW, seq_window=100)
    assert [e.seq for e in result.replayed] == [10]
    assert [e.seq for e in result.inserted] == [4950]
    assert [d.reason for d in store.dead_letters()] == ["replay_seq"]
    store.reset_node("site-1", "gate-a")  # a reinstalled node starts again at seq 0
    assert store.node_high_seq("site-1", "gate-a") is None
    assert len(store.store([_acc(11)], [], NOW, seq_window=100).inserted) == 1


def test_concurrent_consumers_count_each_event_once(store: SqlEventStore) -> None:
    batch = [_acc(i) for i in range(400)]
    inserted: list[uuid.UUID] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def consume(part: list[Accepted]) -> None:
        try:
            for i in range(0, len(part), 50):
                res = store.store(part[i : i + 50], [], NOW)
                with lock:
                    inserted.extend(e.event_id for e in res.inserted)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    # Two consumers receive overlapping deliveries (a redelivery after a reconnect).
    threads = [
        threading.Thread(target=consume, args=(batch,)),
        threading.Thread(target=consume, args=(batch[::-1],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(inserted) == sorted(a.event.event_id for a in batch)
    assert store.count_events() == 400
