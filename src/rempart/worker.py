"""The worker: queued jobs, the audit head signer and daily retention, outside the web process."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

# Subscribes the domains to each other's hooks (subscriptions.py).
import rempart.subscriptions  # noqa: F401
from rempart.adapters.matrix import tasks as matrix_tasks
from rempart.audit import service as audit
from rempart.audit.exceptions import AuditLogBroken
from rempart.core import jobs, ratelimit
from rempart.core.db import transaction, write_holds
from rempart.core.deps import Runtime
from rempart.core.models import ScheduleState
from rempart.escalations import tasks as escalation_tasks
from rempart.hotline import tasks as hotline_tasks
from rempart.legal import tasks as legal_tasks
from rempart.moderation import tasks as moderation_tasks
from rempart.notify import tasks as notify_tasks
from rempart.platform import recipients
from rempart.platform import tasks as platform_tasks
from rempart.preservation import tasks as preservation_tasks
from rempart.reports import intake as reports_intake
from rempart.reports import tasks as reports_tasks
from rempart.reports.models import Report

log = logging.getLogger("rempart.worker")

Handler = Callable[[Session, Runtime, dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {
    **platform_tasks.JOB_HANDLERS,
    **legal_tasks.JOB_HANDLERS,
    **moderation_tasks.JOB_HANDLERS,
}
# Work a job needs done before its write transaction opens (model inference, network).
Prepare = Callable[[Runtime, dict[str, Any]], dict[str, Any]]
PREPARERS: dict[str, Prepare] = {
    **platform_tasks.JOB_PREPARERS,
    **moderation_tasks.JOB_PREPARERS,
}
RETENTION_EVERY = timedelta(days=1)
# Emergency orders are due in 8 hours: a minute's lag on their alerts is the most we allow.
LEGAL_DEADLINES_EVERY = timedelta(minutes=1)
STATEMENTS_EVERY = timedelta(seconds=10)
# Statements of reasons sent per write transaction (each writes an appeal link, an outbox
# message and an audit entry).
STATEMENTS_PER_WRITE = 20
JOBS_PER_TICK = 10
# Filing a flood of notices yields to the other jobs after this long.
FILING_SECONDS_PER_TICK = 5.0
# On SQLite, the pause between two slices of filing that lets the web processes write.
FILING_PAUSE_SECONDS = 0.1
# After an unexpected error (database down…) wait this long, up to the maximum, and retry.
ERROR_PAUSE_SECONDS = 1.0
MAX_ERROR_PAUSE_SECONDS = 30.0


# The variables the classifier's native libraries read when they load: the embedding
# engine's OpenMP, numpy's BLAS. Idle OpenMP threads sleep rather than spin on a core.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_classifier_threads(threads: int) -> None:
    """Run the classifier on ``threads`` threads; before the models load (the first scan).

    On two cores, an engine on both starved the web processes: a request that needed the
    CPU (or waited behind a write the worker had begun) waited for the engine's time slice.
    """
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Worker:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.stopping = False
        self.last_head: float | None = None
        # Set by run_forever; a single tick (tests, `worker --once`) runs Matrix and the
        # webhook's deliveries inline.
        self.matrix: matrix_tasks.Background | None = None
        self.webhook: notify_tasks.Background | None = None

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.rt.settings.job_lease_seconds)

    @property
    def max_attempts(self) -> int:
        return self.rt.settings.job_max_attempts

    def stop(self, _signum: int = 0, _frame: FrameType | None = None) -> None:
        self.stopping = True

    def run_forever(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log.info("worker started")
        self.matrix = matrix_tasks.Background(self.rt)
        self.webhook = notify_tasks.Background(self.rt)
        idle = min(
            self.rt.settings.worker_poll_seconds, self.rt.settings.audit_head_interval_seconds
        )
        pause = ERROR_PAUSE_SECONDS
        while not self.stopping:
            try:
                busy = self.tick()
            except Exception:
                # A worker that exits on a passing database error leaves the log unsigned
                # and the queue unserved until someone notices: log, wait, try again.
                log.exception("worker round failed; retrying in %.0f s", pause)
                self._sleep(pause)
                pause = min(pause * 2, MAX_ERROR_PAUSE_SECONDS)
                continue
            pause = ERROR_PAUSE_SECONDS
            if not busy:
                self._sleep(idle)
        self.matrix.stop(timeout=self.rt.settings.matrix_timeout_seconds)
        self.webhook.stop(timeout=self.rt.settings.notify_webhook_timeout_seconds)
        # A last head, so that entries written just before shutdown are signed too.
        self.sign_head()
        log.info("worker stopped")

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def tick(self) -> bool:
        """One round of scheduled work, new notices and at most a few jobs; True when there
        was work."""
        now = time.monotonic()
        interval = self.rt.settings.audit_head_interval_seconds
        if self.last_head is None or now - self.last_head >= interval:
            self.sign_head()
            self.last_head = now
        self.run_schedules()
        # A threat to life does not wait for a schedule: confirmed notifications go every
        # round (one read when there are none), outside any write transaction.
        notified = escalation_tasks.run(self.rt)
        # Notices are filed every round, so a notice reaches the queue within a poll interval.
        filed = 0
        if self._notices_waiting():
            filed = self._file_notices()
        # The webhook's posts wait on the network: none runs inside a transaction.
        posted = 0
        if self.webhook is None:
            posted = notify_tasks.run(self.rt)
        else:
            self.webhook.poke()
        synced = False
        if self.matrix is None:
            synced = matrix_tasks.run(self.rt)
        else:
            self.matrix.poke()
        ran = 0
        while ran < JOBS_PER_TICK and not self.stopping:
            job = jobs.claim(self.rt.engine, lease=self.lease, max_attempts=self.max_attempts)
            if job is None:
                break
            self.run_job(job)
            ran += 1
        return ran > 0 or filed > 0 or posted > 0 or synced or notified > 0

    def sign_head(self) -> None:
        try:
            audit.sign_head(self.rt.engine, keys=self.rt.keys, head_file=self.rt.head_file)
        except AuditLogBroken:
            # Signing a forked log would hide the damage; the queue and retention must not
            # stop for it, so say it loudly and try again next round.
            log.critical(
                "the audit log no longer matches its signed heads; run `rempart audit verify`"
            )

    # An idle worker must not take SQLite's write lock several times a round: API writes
    # queue behind it, and on a loaded machine a descheduled worker holds it for long.
    # These reads decide whether a write transaction is needed; the writes re-check.

    def _file_notices(self) -> int:
        """File notices in short transactions, for a bounded time: a flood of notices
        neither holds the write lock nor keeps the other jobs waiting."""
        filed, longest, started = 0, 0.0, time.monotonic()
        while not self.stopping and time.monotonic() - started < FILING_SECONDS_PER_TICK:
            writing = time.monotonic()
            with transaction(self.rt.engine) as session:
                batch = reports_tasks.file_notices(session, self.rt)
            longest = max(longest, time.monotonic() - writing)
            filed += batch
            if batch < reports_intake.FILE_BATCH:
                break  # nothing left: what arrives meanwhile waits for the next round
            if self.rt.engine.dialect.name == "sqlite":
                # Other processes' writers wait in SQLite's busy handler, which sleeps up to
                # 100 ms between tries: taking the lock straight back would starve them
                # (notices waited 10 s for their two statements behind a flood's filing).
                self._sleep(FILING_PAUSE_SECONDS)
        log.info("filed %d notices (longest write transaction %.0f ms)", filed, longest * 1000)
        return filed

    def _notices_waiting(self) -> bool:
        with transaction(self.rt.engine, readonly=True) as session:
            query = select(Report.id).where(Report.case_id.is_(None)).limit(1)
            return session.execute(query).first() is not None

    def _schedules_due(self) -> bool:
        every = {
            "retention": RETENTION_EVERY,
            "legal-deadlines": LEGAL_DEADLINES_EVERY,
            "moderation-statements": STATEMENTS_EVERY,
        }
        with transaction(self.rt.engine, readonly=True) as session:
            rows = session.execute(
                select(ScheduleState.name, ScheduleState.last_run_at).where(
                    ScheduleState.name.in_(list(every))
                )
            )
            last = {name: at for name, at in rows}
        now = self.rt.now()
        return any(name not in last or now - last[name] >= gap for name, gap in every.items())

    def run_schedules(self) -> None:
        if not self._schedules_due():
            return
        with transaction(self.rt.engine) as session:
            if jobs.due(session, name="retention", every=RETENTION_EVERY):
                platform_tasks.run_retention(session, self.rt)
                moderation_tasks.purge_review_media(session, self.rt)
                ratelimit.purge(session, before=self.rt.now() - timedelta(days=1))
                recipients.record_last_month_once(session, now=self.rt.now())
        # The models load (numpy, the embedding engine: seconds on a busy machine) before the
        # write transaction that compares their version with the last one scanned.
        moderation_tasks.default_classifier(self.rt.settings)
        # Each task its own short transaction: together (statements of reasons, notices'
        # acknowledgements, deadlines) they held SQLite's write lock for over a second on
        # a busy machine while API writes waited. A crash between the schedule's mark and
        # its work delays that work to the next period; each task picks up what is pending.
        with transaction(self.rt.engine) as session:
            deadlines_due = jobs.due(session, name="legal-deadlines", every=LEGAL_DEADLINES_EVERY)
            statements_due = jobs.due(session, name="moderation-statements", every=STATEMENTS_EVERY)
        if deadlines_due:
            with transaction(self.rt.engine) as session:
                legal_tasks.run_deadlines(session, self.rt)
            # Every minute: evidence is erased when its legal period ends, not a day on.
            with transaction(self.rt.engine) as session:
                preservation_tasks.run_purge(session, self.rt)
        if statements_due:
            while not self.stopping:
                with transaction(self.rt.engine) as session:
                    sent = moderation_tasks.deliver(session, self.rt, limit=STATEMENTS_PER_WRITE)
                if sent < STATEMENTS_PER_WRITE:
                    break
            with transaction(self.rt.engine) as session:
                reports_tasks.deliver(session, self.rt)
            with transaction(self.rt.engine) as session:
                moderation_tasks.rescan_if_models_changed(session, self.rt)
        if statements_due:
            # The hotline port sends with no transaction open, between two short ones of
            # its own (hotline/tasks.py).
            hotline_tasks.run(self.rt)

    def run_job(self, job: jobs.ClaimedJob) -> None:
        handler = HANDLERS.get(job.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind}")
            started = time.monotonic()
            prepare = PREPARERS.get(job.kind)
            payload = prepare(self.rt, job.payload) if prepare else job.payload
            # A scan's items are written a few at a time, each part in a short transaction
            # that renews the job's lease: API writes wait behind one part, not the job.
            parts = payload.pop(jobs.WRITE_PARTS, None) or [payload]
            longest = 0.0
            for number, part in enumerate(parts, 1):
                writing = time.monotonic()
                with transaction(self.rt.engine) as session:
                    handler(session, self.rt, part)
                    if number < len(parts):
                        jobs.renew(session, job, lease=self.lease)
                    else:
                        jobs.finish(session, job)
                longest = max(longest, time.monotonic() - writing)
            written = time.monotonic()
            # Long work (the demo's first scan, a rescan) is many jobs: each says how far
            # the run has come, so the log never stays silent for minutes. The write
            # transaction's length is what API writes may have waited behind.
            # On SQLite, the longest time this process held the write lock since the last
            # job (its rounds included): what other writers may have waited behind.
            _count, held = write_holds(reset=True)
            log.info(
                "job %s (%s) done in %.1f s (write transaction %.0f ms, longest of %d%s); "
                "%d of this kind still to run",
                job.id,
                job.kind,
                written - started,
                longest * 1000,
                len(parts),
                f"; SQLite's write lock held at most {held * 1000:.0f} ms" if held else "",
                jobs.waiting(self.rt.engine, kind=job.kind),
            )
        except jobs.LeaseLost:
            # The run that took the job over finishes it; recording a failure here would
            # requeue the job under that run's feet.
            log.warning(
                "job %s (%s): lease lost to another run; its work rolled back", job.id, job.kind
            )
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            jobs.fail(
                self.rt.engine, job, f"{type(exc).__name__}: {exc}", max_attempts=self.max_attempts
            )
