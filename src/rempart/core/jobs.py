"""A small job queue in the database: durable on SQLite and PostgreSQL, no broker needed.

A claimed job is leased; if the worker dies, the lease runs out and another run picks the
job up again. Handlers are idempotent and finish their job in their own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rempart.core.clock import now_of, now_on
from rempart.core.db import transaction
from rempart.core.models import Job, ScheduleState

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 6
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def enqueue(
    session: Session, *, kind: str, payload: dict[str, Any], delay: timedelta | None = None
) -> None:
    now = now_of(session)
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


def waiting(engine: Engine, *, kind: str) -> int:
    """Jobs of this kind not yet done: the progress a long run (a rescan) logs."""
    with transaction(engine, readonly=True) as session:
        return int(
            session.execute(
                select(func.count())
                .select_from(Job)
                .where(Job.kind == kind, Job.status.in_(("queued", "running")))
            ).scalar_one()
        )


def backoff(attempts: int) -> timedelta:
    """Delay before the next try of a job that failed ``attempts`` times."""
    return min(timedelta(seconds=2 ** min(attempts, 20)), MAX_BACKOFF)


def claim(
    engine: Engine, *, lease: timedelta = LEASE, max_attempts: int = MAX_ATTEMPTS
) -> ClaimedJob | None:
    now = now_on(engine)
    claimable = or_(
        (Job.status == "queued") & (Job.run_after <= now),
        (Job.status == "running") & (Job.locked_until < now),
    )
    # An idle worker asks often: it takes SQLite's write lock only when there is a job.
    with transaction(engine, readonly=True) as session:
        if session.execute(select(Job.id).where(claimable).limit(1)).first() is None:
            return None
    with transaction(engine) as session:
        while True:
            query = (
                select(Job)
                .where(claimable)
                .order_by(Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            job = session.execute(query).scalar_one_or_none()
            if job is None:
                return None
            if job.status == "running" and job.attempts >= max_attempts:
                # Every try so far died with its worker (out of memory, killed…): a job
                # that takes the worker down must not be handed out for ever.
                job.status = "failed"
                job.locked_until = None
                job.finished_at = now
                job.last_error = "the lease ran out on every attempt (worker died)"
                session.flush()
                continue
            job.status = "running"
            job.attempts += 1
            job.locked_until = now + lease
            return ClaimedJob(job.id, job.kind, dict(job.payload), job.attempts)


class LeaseLost(RuntimeError):
    """This run's lease ran out and another run took the job over: its work must not count."""


# A preparer (worker.PREPARERS) may split a job's writes: the payloads under this key are
# handled one write transaction each, in order, and the job finishes with the last.
WRITE_PARTS = "_write_parts"


def renew(session: Session, job: ClaimedJob, *, lease: timedelta) -> None:
    """Extend the job's lease in the transaction that writes a part of its work, or raise
    LeaseLost: a part is stored only while this claim is the current one, as ``finish``."""
    renewed = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == "running", Job.attempts == job.attempts)
        .values(locked_until=now_of(session) + lease)
    )
    if not renewed.rowcount:  # type: ignore[attr-defined]
        raise LeaseLost(f"job {job.id}: the lease of attempt {job.attempts} was taken over")


def finish(session: Session, job: ClaimedJob) -> None:
    """Mark the job done in the transaction that holds its work, or raise LeaseLost.

    Only the claim that is still current may finish: a worker descheduled past its lease
    (a busy machine, a long pause) finds that another worker claimed the job again, and
    its transaction rolls back instead of storing the work a second time.
    """
    done = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == "running", Job.attempts == job.attempts)
        .values(status="done", finished_at=now_of(session), locked_until=None)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        raise LeaseLost(f"job {job.id}: the lease of attempt {job.attempts} was taken over")


def fail(engine: Engine, job: ClaimedJob, error: str, *, max_attempts: int = MAX_ATTEMPTS) -> None:
    now = now_on(engine)
    give_up = job.attempts >= max_attempts
    with transaction(engine) as session:
        session.execute(
            update(Job)
            # Only this claim: if our lease ran out and another worker took the job over,
            # its run, not ours, decides what happens next.
            .where(Job.id == job.id, Job.status == "running", Job.attempts == job.attempts)
            .values(
                status="failed" if give_up else "queued",
                last_error=error[:2000],
                locked_until=None,
                run_after=now + backoff(job.attempts),
                finished_at=now if give_up else None,
            )
        )


def due(session: Session, *, name: str, every: timedelta) -> bool:
    """True (and marks the run) when the schedule ``name`` has not run for ``every``."""
    now = now_of(session)
    state = session.get(ScheduleState, name, with_for_update=True)
    if state is None:
        # Two workers starting on a fresh database both find no row: the insert decides
        # which one runs, instead of the loser failing on the primary key.
        module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        inserted = session.execute(
            module.insert(ScheduleState)
            .values(name=name, last_run_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return bool(inserted.rowcount)  # type: ignore[attr-defined]
    if now - state.last_run_at < every:
        return False
    state.last_run_at = now
    return True
