"""The suite's guard against long write transactions (tests/write_guard.py) sees what it
must: work done while a write lock is held, on SQLite from BEGIN IMMEDIATE, on PostgreSQL
from the first write; and not reads, nor work done before the write transaction."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, update

import write_guard
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.models import ScheduleState


def spin(seconds: float) -> None:
    """CPU work, as a classifier or a hash would do."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def holds_now() -> list[write_guard.WriteHold]:
    with write_guard.RECORDER.lock:
        return list(write_guard.RECORDER.holds)


def slow(holds: list[write_guard.WriteHold]) -> list[write_guard.WriteHold]:
    return write_guard.too_long(
        holds, cpu_ms=write_guard.BOUND_MS, wall_ms=write_guard.WALL_BOUND_MS
    )


@pytest.mark.long_write("the guard's own test holds a lock on purpose")
def test_work_inside_a_write_transaction_is_caught_and_named(runtime: Runtime) -> None:
    before = len(holds_now())
    with transaction(runtime.engine) as session:
        session.add(ScheduleState(name="guard-test", last_run_at=runtime.now()))
        session.flush()
        spin(write_guard.BOUND_MS / 1000 + 0.1)
    caught = slow(holds_now()[before:])
    assert len(caught) == 1
    assert caught[0].cpu_seconds * 1000 > write_guard.BOUND_MS
    assert "INSERT INTO schedule_state" in caught[0].describe()


@pytest.mark.long_write("the guard's own test holds a lock on purpose")
def test_a_wait_that_costs_no_cpu_is_caught_by_wall_time(runtime: Runtime) -> None:
    with transaction(runtime.engine) as session:
        session.add(ScheduleState(name="guard-sleep", last_run_at=runtime.now()))
        session.flush()
    before = len(holds_now())
    with transaction(runtime.engine) as session:
        session.execute(
            update(ScheduleState)
            .where(ScheduleState.name == "guard-sleep")
            .values(last_run_at=runtime.now())
        )
        # A network call or a retry sleep: no CPU, but the lock is held all along.
        time.sleep(write_guard.WALL_BOUND_MS / 1000 + 0.2)
    caught = slow(holds_now()[before:])
    assert len(caught) == 1
    assert "UPDATE schedule_state" in caught[0].describe()


def test_reads_and_work_before_the_write_transaction_are_not_counted(
    runtime: Runtime,
) -> None:
    before = len(holds_now())
    with transaction(runtime.engine, readonly=True) as session:
        session.execute(select(ScheduleState.name)).all()
        spin(write_guard.BOUND_MS / 1000 + 0.1)
    spin(write_guard.BOUND_MS / 1000 + 0.1)
    with transaction(runtime.engine) as session:
        session.add(ScheduleState(name="guard-quick", last_run_at=runtime.now()))
    assert slow(holds_now()[before:]) == []


def test_on_sqlite_the_lock_is_held_from_begin_not_from_the_first_write(
    runtime: Runtime, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL takes row locks at the first write")
    before = len(holds_now())
    with transaction(runtime.engine) as session:
        session.execute(select(ScheduleState.name)).all()
    (hold,) = holds_now()[before:]
    assert hold.statements[0].startswith("BEGIN IMMEDIATE")
