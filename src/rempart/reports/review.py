"""What moderation's review views show of notices and appeals: the cases behind an item
with their raid signals, its appeals, and the notices and appeals on a timeline. Moderation
reads them through its hooks (moderation/hooks.py), to which this module subscribes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc
from rempart.moderation.schemas import CaseView, NoticeView, RaidSignal
from rempart.moderation.timeline import SHOWN, Event
from rempart.reports import raids
from rempart.reports.models import Appeal, Report, ReportCase

NOTICES_SHOWN = 200


def cases_of_item(session: Session, *, item_id: int) -> list[CaseView]:
    report_cases = list(
        session.execute(
            select(ReportCase).where(ReportCase.item_id == item_id).order_by(ReportCase.id.desc())
        ).scalars()
    )
    return [_case(session, c) for c in report_cases]


def appeals_of_item(session: Session, *, item_id: int) -> list[Any]:
    return list(
        session.execute(
            select(Appeal).where(Appeal.item_id == item_id).order_by(Appeal.id.desc())
        ).scalars()
    )


def timeline_events(session: Session, *, labels: dict[int, str]) -> list[Event]:
    """The notices (the reporter's kind, never who) and the appeals on these items."""
    ids = list(labels)
    events: list[Event] = []
    for report, item_id in session.execute(
        select(Report, ReportCase.item_id)
        .join(ReportCase, ReportCase.id == Report.case_id)
        .where(ReportCase.item_id.in_(ids))
        .order_by(Report.id.desc())
        .limit(SHOWN)
    ).all():
        events.append(
            Event(
                as_utc(report.created_at),
                "notice",
                item_id,
                labels[item_id],
                report.reporter_kind or "anonymous",
                report.category,
                report.explanation,
            )
        )
    for appeal in session.execute(
        select(Appeal).where(Appeal.item_id.in_(ids)).order_by(Appeal.id.desc()).limit(SHOWN)
    ).scalars():
        events.append(
            Event(
                as_utc(appeal.created_at),
                "appeal",
                appeal.item_id,
                labels[appeal.item_id],
                appeal.party,
                appeal.state + (f" ({appeal.outcome})" if appeal.outcome else ""),
                appeal.explanation,
            )
        )
    return events


def _case(session: Session, case: ReportCase) -> CaseView:
    notices = list(
        session.execute(
            select(Report)
            .where(Report.case_id == case.id)
            .order_by(Report.id.desc())
            .limit(NOTICES_SHOWN)
        ).scalars()
    )
    coordinated = session.execute(
        select(func.count()).where(Report.case_id == case.id, Report.coordinated.is_(True))
    ).scalar_one()
    return CaseView(
        id=case.id,
        state=case.state,
        category=case.category,
        reports=case.reports,
        reporters=case.reporters,
        credible_reporters=case.credible_reporters,
        coordinated_reports=int(coordinated),
        trusted_flagger=case.trusted_flagger,
        priority=case.priority,
        raid_suspected=case.raid_suspected,
        raid_score=case.raid_score,
        raid_signals=[
            RaidSignal(name=name, value=value, weight=weight, contribution=contribution)
            for name, value, weight, contribution in raids.contributions(case)
        ],
        target_factor=float(case.raid_signals.get("target_factor", 1.0)),
        notices=[
            NoticeView(
                id=r.id,
                received_at=as_utc(r.created_at),
                channel=r.channel,
                category=r.category,
                explanation=r.explanation,
                reporter_kind=r.reporter_kind or "anonymous",
                credibility=r.weight,
                coordinated=r.coordinated,
            )
            for r in notices
        ],
    )
