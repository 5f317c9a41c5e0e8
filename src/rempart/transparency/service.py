"""Making and publishing transparency reports. A report is computed from the audit log up
to a signed tree head, embeds that head and the head of the previous report of its kind,
and is stored as published: ``verify.py`` can then recompute it from the log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.audit.models import AuditEntry
from rempart.audit.schemas import SignedTreeHead
from rempart.core.clock import utcnow
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.errors import NotFound
from rempart.transparency import figures, lookup_cache
from rempart.transparency.models import PublishedReport
from rempart.transparency.periods import Period, next_report_date, parse, quarter_of

KINDS = tuple(figures.COMPUTE)
FORMAT_VERSION = 1


class ReportNotFound(NotFound):
    code = "report_not_found"


def read_log(
    session: Session, *, kind: str, tree_size: int, start: int = 0, log: figures.Log | None = None
) -> figures.Log:
    """The entries a report of this kind reads under a head, found by their (indexed)
    action column: fast enough for a report; ``verify`` reads every body instead. With
    ``start`` and ``log``, extends a log already read up to ``start``."""
    log = figures.Log() if log is None else log
    bodies = session.execute(
        select(AuditEntry.body)
        .where(
            AuditEntry.seq >= start,
            AuditEntry.seq < tree_size,
            AuditEntry.action.in_(figures.RELEVANT_FOR[kind]),
        )
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=5000)
    ).scalars()
    for body in bodies:
        log.add(json.loads(body))
    return log


def compute(kind: str, log: figures.Log, period: Period) -> dict[str, Any]:
    return figures.suppress(figures.COMPUTE[kind](log, period))  # type: ignore[no-any-return]


def build(
    session: Session,
    *,
    kind: str,
    period: Period,
    head: SignedTreeHead,
    previous_head: SignedTreeHead | None,
    now: datetime,
) -> dict[str, Any]:
    log = read_log(session, kind=kind, tree_size=head.tree_size)
    return {
        "kind": kind,
        "version": FORMAT_VERSION,
        "period": period.name,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "generated_at": now.isoformat(),
        "head": head.model_dump(),
        "previous_head": previous_head.model_dump() if previous_head else None,
        "suppression": {
            "below": figures.SUPPRESS_BELOW,
            "rule": f"counts from 1 to {figures.SUPPRESS_BELOW - 1} are shown as "
            f'"{figures.SUPPRESSED}"; medians over fewer than {figures.SUPPRESS_BELOW} '
            "cases are null",
        },
        "figures": compute(kind, log, period),
    }


def publish(rt: Runtime, *, kind: str, period_text: str) -> dict[str, Any]:
    """Sign a head over the log as it is, compute the report on it, and store it."""
    period = parse(period_text)
    audit.sign_head(rt.engine, keys=rt.keys, head_file=rt.head_file)
    with transaction(rt.engine) as session:
        head = audit.latest_head(session, keys=rt.keys)
        previous = session.execute(
            select(PublishedReport.document)
            .where(PublishedReport.kind == kind)
            .order_by(PublishedReport.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        previous_head = (
            SignedTreeHead.model_validate(json.loads(previous)["head"]) if previous else None
        )
        report = build(
            session, kind=kind, period=period, head=head, previous_head=previous_head, now=utcnow()
        )
        session.add(
            PublishedReport(
                kind=kind,
                period=period.name,
                tree_size=head.tree_size,
                published_at=utcnow(),
                document=json.dumps(report, sort_keys=True),
            )
        )
        audit.record(
            session,
            actor="system:transparency",
            action="transparency.report.published",
            details={"kind": kind, "period": period.name, "tree_size": head.tree_size},
        )
    return report


def published(session: Session, *, kind: str, period: str | None) -> list[dict[str, Any]]:
    query = select(PublishedReport).where(PublishedReport.kind == kind)
    if period:
        query = query.where(PublishedReport.period == period)
    rows = session.execute(query.order_by(PublishedReport.id.desc()).limit(100)).scalars()
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "period": r.period,
            "tree_size": r.tree_size,
            "published_at": r.published_at.isoformat(),
        }
        for r in rows
    ]


def published_document(session: Session, *, report_id: int) -> dict[str, Any]:
    row = session.get(PublishedReport, report_id)
    if row is None:
        raise ReportNotFound("No published report has this id.")
    document: dict[str, Any] = json.loads(row.document)
    return document


def country_lookup(
    session: Session, *, country: str, period_text: str | None, head: SignedTreeHead
) -> dict[str, Any]:
    """What Telegram's transparency bot answers: per quarter, fulfilled requests and the
    users they affected, for one country, from the log under the latest signed head."""
    now = utcnow()
    period = parse(period_text) if period_text else quarter_of(now)
    next_report = next_report_date(now).isoformat()
    # Anonymous and unlimited: computed once per signed head (see lookup_cache).
    return lookup_cache.answer(
        session,
        head=head,
        key=(country, period.name, next_report),
        compute=lambda log: _country_answer(log, country, period, next_report, head),
    )


def _country_answer(
    log: figures.Log, country: str, period: Period, next_report: str, head: SignedTreeHead
) -> dict[str, Any]:
    result = figures.lawful_disclosure(log, period)
    quarters = []
    for row in result["trend"]:
        quarter = parse(row["period"])
        if quarter.start < period.start:
            continue
        orders = [
            o for o in log.orders.values() if o.country == country and quarter.contains(o.received)
        ]
        quarters.append(
            {
                "period": quarter.name,
                "fulfilled_requests": sum(1 for o in orders if o.effected is not None),
                "users_affected": sum(o.users_affected for o in orders if o.effected),
            }
        )
    return {
        "country": country,
        "period": period.name,
        "quarters": figures.suppress(quarters),
        "next_report": next_report,
        "tree_size": head.tree_size,
    }
