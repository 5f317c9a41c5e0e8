"""The clock flows from the runtime (issue 16, point 3): routes, commands and tasks read
``rt.now()``, services the clock of the runtime that opened their session; there is no
process-wide clock for code to read or for a test to replace."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import platform_world
from legal_support import MovableClock
from rempart.audit.models import AuditEntry
from rempart.core import clock, jobs
from rempart.core.db import get_engine, transaction
from rempart.core.deps import Runtime
from rempart.core.models import Job

SOURCE = Path(__file__).resolve().parents[2] / "src" / "rempart"
LONG_AGO = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)


class Still:
    def now(self) -> datetime:
        return LONG_AGO


def test_there_is_no_process_wide_clock() -> None:
    assert not hasattr(clock, "utcnow")
    assert not hasattr(clock, "clock")
    callers = [
        str(path.relative_to(SOURCE))
        for path in sorted(SOURCE.rglob("*.py"))
        if any(
            isinstance(node, ast.Name | ast.Attribute)
            and (getattr(node, "id", None) or getattr(node, "attr", None)) == "utcnow"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert callers == []


def test_services_read_the_clock_of_the_runtime_that_opened_their_session(
    runtime: Runtime,
) -> None:
    past = replace(runtime, clock=Still())
    with past.unit_of_work() as session:
        jobs.enqueue(session, kind="test.clock", payload={})
    with transaction(past.engine, readonly=True) as session:
        assert clock.now_of(session) == LONG_AGO
        job = session.execute(select(Job).where(Job.kind == "test.clock")).scalar_one()
        assert clock.as_utc(job.created_at) == LONG_AGO
    assert clock.now_on(past.engine) == LONG_AGO
    # The same database, through another runtime or none: its own time.
    with runtime.unit_of_work(readonly=True) as session:
        assert clock.now_of(session) != LONG_AGO
    with transaction(get_engine(runtime.settings.database_url)) as session:
        assert abs((clock.now_of(session) - datetime.now(UTC)).total_seconds()) < 60


def test_routes_take_the_time_from_the_app_s_runtime(
    client: TestClient,
    runtime: Runtime,
    moved: MovableClock,
    platform_headers: dict[str, str],
) -> None:
    """The app and the test share the runtime's clock (``client`` is built with it): moved
    back, what a request journals is dated then."""
    moved.offset = LONG_AGO - datetime.now(UTC)
    with runtime.unit_of_work(readonly=True) as session:
        before = set(session.execute(select(AuditEntry.seq)).scalars())
    platform_world(client, platform_headers)
    with runtime.unit_of_work(readonly=True) as session:
        written = [
            clock.as_utc(moment)
            for seq, moment in session.execute(select(AuditEntry.seq, AuditEntry.recorded_at))
            if seq not in before
        ]
    assert written
    assert all(abs((moment - LONG_AGO).total_seconds()) < 600 for moment in written)


def test_runtimes_that_share_a_clock_share_one_view_of_the_engine(runtime: Runtime) -> None:
    """A listener on one runtime's engine (a test watching statements, say) hears every
    runtime of the same clock, the app's and the worker's included."""
    base = get_engine(runtime.settings.database_url)
    still = Still()
    one = Runtime(settings=runtime.settings, engine=base, keys=runtime.keys, clock=still)
    two = Runtime(settings=runtime.settings, engine=base, keys=runtime.keys, clock=still)
    assert one.engine is two.engine
    other = Runtime(settings=runtime.settings, engine=base, keys=runtime.keys, clock=Still())
    assert other.engine is not one.engine
