"""The edge node's on-disk outbox: every event is durable here before it is published.

SQLite in WAL mode with ``synchronous=FULL`` by default, so an event that
:meth:`Outbox.put` returned for survives a process kill and a power loss. Rows
leave the outbox only when central acknowledges them (which implies the broker
acknowledged the publish first); the link resends what is not acknowledged.

Disk use is bounded by ``max_bytes`` (the sum of stored event sizes plus a
per-row overhead). When a new event does not fit, the oldest events of the
lowest severity go first (info, then low, …) and an
:class:`~contracts.messages.OutboxOverflowEvent` saying how many went and from
when is enqueued in the same transaction: nothing is dropped silently.

The per-node sequence number lives here too (``next_seq``), so it survives
restarts together with the events that carry it.

Group commit: a sync costs milliseconds, so one transaction per :meth:`Outbox.put`
caps a node at a few hundred single events/s. Concurrent callers (several
camera workers) therefore share transactions: the first caller becomes the
leader and commits its own events; whoever arrives while that commit runs
waits, and the next leader commits all of them in one transaction and one
sync. Every caller still returns only after the transaction holding its events
has committed, so the durability promise is unchanged; a lone caller never
waits for company.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from anju.clock import Clock
from anju.errors import AnjuError
from contracts.messages import EventBase, OutboxOverflowEvent, Severity

log = logging.getLogger(__name__)
_INSERT_ROW = (
    "INSERT INTO outbox (seq, event_id, kind, severity, captured_at, size, body) VALUES (?, ?, ?, ?, ?, ?, ?)"
)

ROW_OVERHEAD_BYTES = 96  # index entries, ids and page slack per row, so the bound tracks the file size

SEVERITY_RANK: dict[Severity, int] = {
    Severity.info: 0,
    Severity.low: 1,
    Severity.medium: 2,
    Severity.high: 3,
    Severity.critical: 4,
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity INTEGER NOT NULL,
    captured_at TEXT NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_drop_order ON outbox (severity, id);
CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class OutboxError(AnjuError):
    """The outbox cannot take an event (e.g. it alone exceeds the disk bound)."""


_Row = tuple[int, str, str, int, str, int, bytes]  # seq, event_id, kind, severity, captured_at, size, body


@dataclass(eq=False)
class _Waiting:
    """One put()/put_many() call waiting for a group commit."""

    rows: list[_Row]
    like: EventBase  # names the node for an overflow event
    done: bool = False
    error: BaseException | None = None


@dataclass(frozen=True)
class OutboxItem:
    """One stored event, as the link publishes it."""

    row_id: int
    seq: int
    event_id: str
    kind: str
    body: bytes  # the event's JSON


class Outbox:
    """Durable, ordered, bounded store of events awaiting acknowledgement."""

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        clock: Clock,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        group_commit: bool = True,
    ) -> None:
        """``group_commit=False`` gives every call its own transaction (the bench's baseline)."""
        if max_bytes < 4096:
            raise OutboxError(f"outbox {path}: max_bytes {max_bytes} is below the 4096-byte minimum")
        self.path = path
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.RLock()
        # Sequence numbers have their own lock: camera workers numbering their next events must
        # not wait for a commit (and its sync) in progress, or nobody is there to share the next.
        self._seq_lock = threading.Lock()
        self.group_commit = group_commit
        self._group = threading.Condition(threading.Lock())
        self._waiting: list[_Waiting] = []
        self._leading = False
        self._commits = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {path}: cannot open: {exc}") from exc
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(MAX(seq), -1) FROM outbox")
        count, used, max_seq = row.fetchone()
        self._count = int(count)
        self._used = int(used)
        stored = self._meta("next_seq")
        self._next_seq = max(stored if stored is not None else 0, int(max_seq) + 1)

    # -- sequence numbers ---------------------------------------------------

    def _meta(self, key: str) -> int | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def next_seq(self) -> int:
        """The next per-node sequence number; made durable when the event carrying it is put."""
        with self._seq_lock:
            seq = self._next_seq
            self._next_seq += 1
            return seq

    # -- writing --------------------------------------------------------------

    def put(self, event: EventBase) -> None:
        """Store ``event`` durably (committed and synced) before returning."""
        self.put_many([event])

    def put_many(self, events: Sequence[EventBase]) -> None:
        """Store several events in one transaction (one sync), shared with concurrent callers."""
        if not events:
            return
        rows = self._rows(events)
        if not self.group_commit:
            with self._lock:
                self._commit(rows, events[0])
            return
        me = _Waiting(rows, events[0])
        group: list[_Waiting] = []
        with self._group:
            self._waiting.append(me)
            while self._leading and not me.done:
                self._group.wait()
            if not me.done:
                # Lead: take everyone waiting (me included) into one transaction.
                self._leading = True
                group, self._waiting = self._waiting, []
        if group:
            self._commit_group(group, me)
        if me.error is not None:
            raise me.error

    def _commit_group(self, group: list[_Waiting], leader: _Waiting) -> None:
        try:
            try:
                with self._lock:
                    self._commit([row for w in group for row in w.rows], group[0].like)
            except Exception:
                if len(group) == 1:
                    raise
                # One caller's events may be the problem (no room for them): the others must not
                # fail with it, so each goes again in its own transaction and keeps its own error.
                for w in group:
                    try:
                        with self._lock:
                            self._commit(w.rows, w.like)
                    except Exception as exc:
                        w.error = exc
        except BaseException as exc:
            # The leader's own call raises exc; the others learn their events were not stored.
            for w in group:
                if w is not leader and w.error is None:
                    w.error = OutboxError(f"outbox {self.path}: events not stored: {exc!r}")
            raise
        finally:
            with self._group:
                for w in group:
                    w.done = True
                self._leading = False
                self._group.notify_all()

    def _rows(self, events: Sequence[EventBase]) -> list[_Row]:
        rows: list[_Row] = []
        for event in events:
            body = event.model_dump_json().encode("utf-8")
            size = len(body) + ROW_OVERHEAD_BYTES
            if size > self.max_bytes // 2:
                raise OutboxError(
                    f"outbox {self.path}: event {event.event_id} is {len(body)} bytes, "
                    f"more than half the outbox bound ({self.max_bytes} bytes)"
                )
            kind = str(getattr(event, "kind", "unknown"))
            rows.append(
                (
                    event.seq,
                    str(event.event_id),
                    kind,
                    SEVERITY_RANK[event.severity],
                    event.captured_at.isoformat(),
                    size,
                    body,
                )
            )
        return rows

    def _commit(self, rows: list[_Row], like: EventBase) -> None:
        """Insert ``rows`` in one transaction, making room first if needed; caller holds ``_lock``."""
        with self._write():
            needed = sum(r[5] for r in rows)
            overflow = self._make_room(needed, like) if self._used + needed > self.max_bytes else None
            self._db.executemany(_INSERT_ROW, rows)
            if overflow is not None:
                self._db.execute(_INSERT_ROW, overflow)
                needed += overflow[5]
            with self._seq_lock:
                top = max(max(r[0] for r in rows) + 1, self._next_seq)
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('next_seq', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
                (top,),
            )
        self._used += needed
        self._count += len(rows) + (1 if overflow is not None else 0)
        with self._seq_lock:
            self._next_seq = max(self._next_seq, top)
        self._commits += 1

    def _make_room(self, needed: int, like: EventBase) -> _Row:
        """Drop the oldest lowest-severity rows until ``needed`` (plus the overflow event) fits.

        Runs inside the caller's transaction; returns the overflow event's row.
        """
        reserve = 1024  # room for the overflow event itself
        dropped = 0
        freed = 0
        oldest: str | None = None
        newest: str | None = None
        cursor = self._db.execute("SELECT id, size, captured_at FROM outbox ORDER BY severity, id")
        victims: list[tuple[int]] = []
        for row_id, size, captured in cursor:
            if self._used - freed + needed + reserve <= self.max_bytes:
                break
            victims.append((row_id,))
            freed += int(size)
            dropped += 1
            oldest = captured if oldest is None or captured < oldest else oldest
            newest = captured if newest is None or captured > newest else newest
        cursor.close()
        if self._used - freed + needed + reserve > self.max_bytes:
            raise OutboxError(f"outbox {self.path}: cannot make room for {needed} bytes")
        self._db.executemany("DELETE FROM outbox WHERE id = ?", victims)
        self._used -= freed
        self._count -= dropped
        total = (self._meta("dropped_total") or 0) + dropped
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('dropped_total', ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (total,),
        )
        now = self._clock.now()
        assert oldest is not None and newest is not None  # dropped >= 1 here
        with self._seq_lock:
            seq = self._next_seq
            self._next_seq += 1
        event = OutboxOverflowEvent(
            event_id=uuid.uuid4(),
            site_id=like.site_id,
            node_id=like.node_id,
            seq=seq,
            captured_at=now,
            dropped=dropped,
            oldest_dropped_at=datetime.fromisoformat(oldest),
            newest_dropped_at=datetime.fromisoformat(newest),
        )
        log.error(
            "outbox %s full: dropped %d oldest low-severity events captured %s … %s",
            self.path,
            dropped,
            oldest,
            newest,
        )
        body = event.model_dump_json().encode("utf-8")
        return (
            seq,
            str(event.event_id),
            event.kind,
            SEVERITY_RANK[event.severity],
            now.isoformat(),
            len(body) + ROW_OVERHEAD_BYTES,
            body,
        )

    # -- reading and removing -------------------------------------------------

    def peek(self, after_row: int = 0, limit: int = 500) -> list[OutboxItem]:
        """Up to ``limit`` stored events after row ``after_row``, oldest first."""
        with self._lock:
            cur = self._db.execute(
                "SELECT id, seq, event_id, kind, body FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_row, limit),
            )
            return [OutboxItem(int(r[0]), int(r[1]), str(r[2]), str(r[3]), bytes(r[4])) for r in cur]

    def remove_seqs(self, ranges: Iterable[tuple[int, int]]) -> int:
        """Delete events whose seq falls in any inclusive ``(first, last)`` range; return how many."""
        spans = [(int(a), int(b)) for a, b in ranges if a <= b]
        if not spans:
            return 0
        with self._lock:
            removed = 0
            freed = 0
            with self._write():
                for first, last in spans:
                    row = self._db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox WHERE seq BETWEEN ? AND ?",
                        (first, last),
                    ).fetchone()
                    if row[0]:
                        self._db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (first, last))
                        removed += int(row[0])
                        freed += int(row[1])
            self._count -= removed
            self._used -= freed
            return removed

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction (caller holds ``_lock``): committed on success; on any error rolled
        back and the cached count/size re-read, since the caller's bookkeeping may be half done."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._recount()
            raise

    def _recount(self) -> None:
        count, used = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        self._count, self._used = int(count), int(used)

    # -- state ------------------------------------------------------------------

    def commits(self) -> int:
        """Transactions put()/put_many() have committed since this outbox was opened."""
        with self._lock:
            return self._commits

    def waiting(self) -> int:
        """Callers queued for the next group commit (not counting the one committing now)."""
        with self._group:
            return len(self._waiting)

    def depth(self) -> int:
        with self._lock:
            return self._count

    def bytes_used(self) -> int:
        with self._lock:
            return self._used

    def dropped_total(self) -> int:
        """Events ever dropped to stay within the bound (each drop also enqueued an overflow event)."""
        with self._lock:
            return self._meta("dropped_total") or 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
