"""Synapse's event reports as Rempart notices, vouched for by the homeserver."""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.adapters.matrix.client import JSON, Homeserver, matrix_time
from rempart.adapters.matrix.progress import (
    ACTOR,
    ADAPTER,
    SyncSummary,
    cursors,
    save,
)
from rempart.auth import service as auth
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.errors import RempartError
from rempart.platform.models import PlatformAction, Post
from rempart.reports import intake
from rempart.reports.bot import category_of
from rempart.reports.models import Report, ReportCase
from rempart.reports.schemas import ReportCreate, Target

log = logging.getLogger("rempart.matrix")

PRINCIPAL = "matrix-homeserver"
PAGE = 100


def platform_caller(session: Session) -> Caller:
    """The principal the homeserver acts as: a platform vouching for its users' reports."""
    principal = auth.ensure_principal(session, role=Role.PLATFORM, name=PRINCIPAL, actor=ACTOR)
    return Caller(principal.id, principal.name, Role.PLATFORM)


def sync_reports(rt: Runtime, hs: Homeserver, summary: SyncSummary) -> None:
    """Reports newer than the last one taken. The homeserver lists them newest first, so
    reading stops at the first known one; offsets are never remembered, because reports
    deleted on the homeserver shift them."""
    with transaction(rt.engine, readonly=True) as session:
        last_id = int(cursors(session, prefix="reports:").get("reports:last_id", "0"))
    fresh: list[JSON] = []
    start = 0
    while True:
        page = hs.event_reports(start=start, limit=PAGE)
        rows: list[JSON] = page.get("event_reports", [])
        fresh.extend(r for r in rows if int(r["id"]) > last_id)
        if not rows or page.get("next_token") is None or min(int(r["id"]) for r in rows) <= last_id:
            break
        start += len(rows)
    fresh.sort(key=lambda r: int(r["id"]))
    for begin in range(0, len(fresh), PAGE):
        chunk = fresh[begin : begin + PAGE]
        with transaction(rt.engine) as session:
            caller = platform_caller(session)
            for row in chunk:
                _file_report(session, rt, caller, row, summary)
            save(session, values={"reports:last_id": str(chunk[-1]["id"])})


def _file_report(
    session: Session, rt: Runtime, caller: Caller, row: JSON, summary: SyncSummary
) -> None:
    event_id = str(row.get("event_id") or "")
    known = session.execute(
        select(Post.id).where(Post.post_id == event_id, Post.deleted_at.is_(None))
    ).first()
    if known is None:
        # An event in a private room, or one gone already: Rempart has not read it and
        # will not. The homeserver's own admins handle those reports.
        summary.reports_skipped += 1
        return
    reason = str(row.get("reason") or "").strip()
    try:
        data = ReportCreate(
            target=Target(kind="post", id=event_id),
            category=category_of(reason) or "other",
            explanation=f"Reported on Matrix: {reason or 'no reason given'}"[:5000],
            platform_user_id=str(row["user_id"]),
            good_faith=True,
        )
        with session.begin_nested():
            report = intake.submit(
                session,
                keys=rt.keys,
                settings=rt.settings,
                data=data,
                sender=intake.Sender(caller=caller, network=None, channel="platform"),
                now=matrix_time(row["received_ts"]),
            )
    except (ValidationError, RempartError) as exc:
        summary.refused += 1
        log.warning("event report %s not filed: %s", row.get("id"), exc)
        return
    # Remembered until the report's case is decided, to resolve it on the homeserver then.
    save(session, values={f"report:{row['id']}": str(report.id)})
    summary.reports += 1


def queue_resolutions(session: Session, *, now: datetime) -> int:
    """Event reports whose case Rempart has decided, to resolve on the homeserver: Synapse
    has no resolved state, so its admins' list of reports to handle loses them."""
    waiting = cursors(session, prefix="report:")
    if not waiting:
        return 0
    decided = dict(
        session.execute(
            select(Report.id, ReportCase.decision_id)
            .join(ReportCase, ReportCase.id == Report.case_id)
            .where(
                Report.id.in_([int(v) for v in waiting.values()]),
                ReportCase.state == "decided",
            )
        ).all()
    )
    done: dict[str, str | None] = {}
    for key, report_id in waiting.items():
        if int(report_id) not in decided:
            continue
        session.add(
            PlatformAction(
                adapter=ADAPTER,
                action="resolve_report",
                target_kind="report",
                target_ref=key.removeprefix("report:"),
                decision_id=decided[int(report_id)],
                reason=f"the case of report {report_id} was decided",
                state="pending",
                due_at=now,
                attempts=0,
                details={},
                created_at=now,
            )
        )
        done[key] = None
    save(session, values=done)
    return len(done)
