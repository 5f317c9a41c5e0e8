"""Synapse's event reports as Rempart notices, vouched for by the homeserver."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.auth import service as auth
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.errors import RempartError
from rempart.platform.adapters.matrix.client import JSON, Homeserver, matrix_time
from rempart.platform.adapters.matrix.progress import ACTOR, SyncSummary, cursors, save
from rempart.platform.models import Post
from rempart.reports import intake
from rempart.reports.bot import category_of
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
        last_id = int(cursors(session, "reports:").get("reports:last_id", "0"))
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
            save(session, {"reports:last_id": str(chunk[-1]["id"])})


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
            intake.submit(
                session,
                rt.keys,
                rt.settings,
                data=data,
                sender=intake.Sender(caller=caller, network=None, channel="platform"),
                now=matrix_time(row["received_ts"]),
            )
    except (ValidationError, RempartError) as exc:
        summary.refused += 1
        log.warning("event report %s not filed: %s", row.get("id"), exc)
        return
    summary.reports += 1
