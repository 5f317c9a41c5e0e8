"""A guard against long write transactions, for the test suite.

SQLAlchemy's engine events time every write transaction of the test process: from the
moment it holds a write lock until it commits or rolls back. On SQLite that moment is
``BEGIN IMMEDIATE``, which takes the database's only write lock (db.make_engine begins
every transaction that is not read-only that way), so a transaction that reads, then
classifies or calls the network, then writes, holds the lock for all of it. On PostgreSQL
it is the first statement that writes or locks rows (INSERT, UPDATE, DELETE,
SELECT … FOR UPDATE).

A test in which one such transaction holds its lock too long fails and names the
transaction's statements: API writes of other processes would queue behind it, and on a
busy machine answer 503 instead of being served. The cure is the project's pattern (see
platform/service.seal): read, compute with no transaction open, write in a short
transaction that re-checks what it read.

Two bounds, because the suite runs on shared, busy machines where wall time says more
about the neighbours than about the code:

- ``REMPART_TEST_WRITE_HOLD_MS`` (default 2000): CPU time the transaction's thread spent
  while holding the lock (classification, hashing, signing, SQLite's own work, which runs
  in the process), less the garbage collector's: in the whole suite's process a full
  collection cost 1.3 to 2.1 s inside single-statement transactions. Load inflates it
  less than wall time: at load 16-19 on 2 cores a scan writing 50 items cost 100-300 ms,
  one writing 2,000 items 2.5 s, filing 50 notices on PostgreSQL 530 ms. Lower bounds
  (250, 400, 500, then 1000 ms) failed single ingest batches, decisions and a worker
  round's schedules at that load.
- ``REMPART_TEST_WRITE_HOLD_WALL_MS`` (default 5000): wall time spent holding the lock
  *between* statements, which catches what costs no CPU (a network call, a retry sleep,
  waiting for a remote model) at a bound that a busy machine does not reach with a short
  transaction. Time inside the database's own calls is left out: at load 11-20,
  PostgreSQL statements of a 118 ms (CPU) transaction took 5.5 s of wall time waiting for
  the disk and the scheduler, which says nothing about the code.

A test that legitimately needs more (seeding a large fixture in one transaction, say)
says so with ``@pytest.mark.long_write("why", up_to_ms=…)``, which raises both bounds to
``up_to_ms`` (or lifts them when it is not given).
"""

from __future__ import annotations

import gc
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

BOUND_MS = float(os.environ.get("REMPART_TEST_WRITE_HOLD_MS", "2000"))
WALL_BOUND_MS = float(os.environ.get("REMPART_TEST_WRITE_HOLD_WALL_MS", "5000"))
# Statements kept per transaction for the failure message.
STATEMENTS_SHOWN = 12

_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|BEGIN\s+IMMEDIATE)\b", re.IGNORECASE)
_LOCKING_READ = re.compile(r"\bFOR\s+(UPDATE|NO\s+KEY\s+UPDATE|SHARE)\b", re.IGNORECASE)
_STATE = "rempart_write_guard"


@dataclass
class WriteHold:
    """One write transaction: how long it held its lock, and what it ran meanwhile."""

    dialect: str
    started: float
    cpu_started: float
    thread: int
    statements: list[str] = field(default_factory=list)
    count: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    in_statements: float = 0.0
    statement_started: float | None = None

    @property
    def between_statements(self) -> float:
        return self.seconds - self.in_statements

    def describe(self) -> str:
        shown = "\n".join(f"    {sql}" for sql in self.statements)
        more = self.count - len(self.statements)
        tail = f"\n    … and {more} more statements" if more > 0 else ""
        return (
            f"  a {self.dialect} write transaction held its lock "
            f"{self.seconds * 1000:.0f} ms ({self.cpu_seconds * 1000:.0f} ms of CPU, "
            f"{self.between_statements * 1000:.0f} ms between statements):"
            f"\n{shown}{tail}"
        )


@dataclass
class Recorder:
    """Write transactions that ended while a test ran (any thread: the test client's app
    runs in its own)."""

    holds: list[WriteHold] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    active: bool = False
    paused: int = 0

    def clear(self) -> None:
        with self.lock:
            self.holds.clear()
            self.active = True

    def stop(self) -> list[WriteHold]:
        with self.lock:
            self.active = False
            holds, self.holds = self.holds, []
        return holds

    def add(self, hold: WriteHold) -> None:
        with self.lock:
            if self.active and not self.paused:
                self.holds.append(hold)

    @contextmanager
    def pause(self) -> Iterator[None]:
        """Not counted: building the migrated template databases that tests copy."""
        with self.lock:
            self.paused += 1
        try:
            yield
        finally:
            with self.lock:
                self.paused -= 1


RECORDER = Recorder()


class _CollectorTime(threading.local):
    """CPU the garbage collector spent in this thread: a full collection of the suite's
    large heap can cost a second or more, in whatever transaction it falls, and says
    nothing about the code under test."""

    spent: float = 0.0
    started: float | None = None


_COLLECTOR = _CollectorTime()


def _on_collect(phase: str, _info: dict[str, Any]) -> None:
    if phase == "start":
        _COLLECTOR.started = time.thread_time()
    elif _COLLECTOR.started is not None:
        _COLLECTOR.spent += time.thread_time() - _COLLECTOR.started
        _COLLECTOR.started = None


def _cpu_now() -> float:
    return time.thread_time() - _COLLECTOR.spent


def _short(statement: str) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= 160 else text[:157] + "..."


def _before_execute(
    conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    begins = statement.lstrip()[:5].upper() == "BEGIN"
    if begins:
        # SQLite's explicit BEGIN (db.make_engine): a new transaction on this connection,
        # even if the last one was invalidated without reaching commit or rollback.
        conn.info.pop(_STATE, None)
    hold: WriteHold | None = conn.info.get(_STATE)
    if hold is None:
        if not begins and not conn.in_transaction():
            return  # autocommit statements (CREATE DATABASE…) hold nothing afterwards
        if not (_WRITE.match(statement) or _LOCKING_READ.search(statement)):
            return
        hold = WriteHold(
            dialect=conn.dialect.name,
            started=time.perf_counter(),
            cpu_started=_cpu_now(),
            thread=threading.get_ident(),
        )
        conn.info[_STATE] = hold
    hold.count += 1
    if len(hold.statements) < STATEMENTS_SHOWN:
        hold.statements.append(_short(statement))
    hold.statement_started = time.perf_counter()


def _after_execute(
    conn: Any, _cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    hold: WriteHold | None = conn.info.get(_STATE)
    if hold is not None and hold.statement_started is not None:
        hold.in_statements += time.perf_counter() - hold.statement_started
        hold.statement_started = None


def _end(conn: Any) -> None:
    hold: WriteHold | None = conn.info.pop(_STATE, None)
    if hold is None:
        return
    hold.seconds = time.perf_counter() - hold.started
    # A transaction ended by another thread than began it: its CPU time is unknown.
    if hold.thread == threading.get_ident():
        hold.cpu_seconds = _cpu_now() - hold.cpu_started
    RECORDER.add(hold)


def install() -> None:
    """Listen on every engine the process creates (once per process)."""
    if event.contains(Engine, "before_cursor_execute", _before_execute):
        return
    gc.callbacks.append(_on_collect)
    event.listen(Engine, "before_cursor_execute", _before_execute)
    event.listen(Engine, "after_cursor_execute", _after_execute)
    event.listen(Engine, "commit", _end)
    event.listen(Engine, "rollback", _end)


def too_long(holds: list[WriteHold], *, cpu_ms: float, wall_ms: float) -> list[WriteHold]:
    return sorted(
        (
            hold
            for hold in holds
            if hold.cpu_seconds * 1000 > cpu_ms or hold.between_statements * 1000 > wall_ms
        ),
        key=lambda hold: -hold.seconds,
    )


class WriteLockWatch:
    """While installed (:func:`watching_writes`), ``holding()`` says whether the calling
    thread holds a write transaction's lock: for a test that checks slow work (a password
    hash, a document's SHA-256) runs with no write transaction open, whatever its time."""

    def __init__(self) -> None:
        self._writing: dict[int, int] = {}

    def holding(self) -> bool:
        return threading.get_ident() in self._writing.values()

    def _before(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _WRITE.match(statement) or _LOCKING_READ.search(statement):
            self._writing[id(conn)] = threading.get_ident()

    def _end(self, conn: Any) -> None:
        self._writing.pop(id(conn), None)


@contextmanager
def watching_writes() -> Iterator[WriteLockWatch]:
    watch = WriteLockWatch()
    listeners = [
        ("before_cursor_execute", watch._before),
        ("commit", watch._end),
        ("rollback", watch._end),
    ]
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    try:
        yield watch
    finally:
        for name, listener in listeners:
            event.remove(Engine, name, listener)
