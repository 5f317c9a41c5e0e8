"""A small job queue in the database: durable on SQLite and PostgreSQL, no broker needed.

A claimed job is leased; if the worker dies, the lease runs out and another run picks the
job up again. Handlers are idempotent and finish their job in their own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from rempart.core.clock import utcnow
from rempart.core.db import transaction
from rempart.core.models import Job, ScheduleState

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def enqueue(
    session: Session, *, kind: str, payload: dict[str, Any], delay: timedelta | None = None
) -> None:
    now = utcnow()
    session.add(
        Job(
            kind=kind,
            payload=payload,
            status="queued",
            attempts=0,
            run_after=now + (delay or timedelta()),
            created_at=now,
        )
    )


def claim(engine: Engine) -> ClaimedJob | None:
    now = utcnow()
    with transaction(engine) as session:
        query = (
            select(Job)
            .where(
                or_(
                    (Job.status == "queued") & (Job.run_after <= now),
                    (Job.status == "running") & (Job.locked_until < now),
                )
            )
            .order_by(Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        job = session.execute(query).scalar_one_or_none()
        if job is None:
            return None
        job.status = "running"
        job.attempts += 1
        job.locked_until = now + LEASE
        return ClaimedJob(job.id, job.kind, dict(job.payload), job.attempts)


def finish(session: Session, job_id: int) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status="done", finished_at=utcnow(), locked_until=None)
    )


def fail(engine: Engine, job: ClaimedJob, error: str) -> None:
    with transaction(engine) as session:
        give_up = job.attempts >= MAX_ATTEMPTS
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                status="failed" if give_up else "queued",
                last_error=error[:2000],
                locked_until=None,
                run_after=utcnow() + timedelta(seconds=2**job.attempts),
            )
        )


def due(session: Session, *, name: str, every: timedelta) -> bool:
    """True (and marks the run) when the schedule ``name`` has not run for ``every``."""
    now = utcnow()
    state = session.get(ScheduleState, name, with_for_update=True)
    if state is None:
        session.add(ScheduleState(name=name, last_run_at=now))
        return True
    if now - state.last_run_at < every:
        return False
    state.last_run_at = now
    return True
