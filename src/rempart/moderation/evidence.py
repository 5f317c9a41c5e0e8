"""What a moderator sees before deciding: the item, every notice about it (category,
explanation, the kind and credibility of its reporter, never who they are), the raid score
with each signal's share of it, every appeal's text, and the item's history with who
decided."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.auth.models import Principal
from rempart.core.clock import as_utc
from rempart.moderation.exceptions import ItemNotFound
from rempart.moderation.models import ModerationDecision
from rempart.moderation.schemas import (
    AppealView,
    CaseView,
    DecisionView,
    ItemEvidence,
    NoticeView,
    RaidSignal,
)
from rempart.reports import raids
from rempart.reports.models import Appeal, Report, ReportCase

NOTICES_SHOWN = 200


def of_item(session: Session, *, item_id: int) -> ItemEvidence:
    from rempart.moderation import queue

    item = queue.item_view(session, item_id=item_id)
    if item is None:
        raise ItemNotFound("No moderation item has this id.")
    report_cases = list(
        session.execute(
            select(ReportCase).where(ReportCase.item_id == item_id).order_by(ReportCase.id.desc())
        ).scalars()
    )
    appeals = list(
        session.execute(
            select(Appeal).where(Appeal.item_id == item_id).order_by(Appeal.id.desc())
        ).scalars()
    )
    decisions = list(
        session.execute(
            select(ModerationDecision)
            .where(ModerationDecision.item_id == item_id)
            .order_by(ModerationDecision.id.desc())
        ).scalars()
    )
    names = dict(
        session.execute(
            select(Principal.id, Principal.name).where(
                Principal.id.in_(
                    {d.moderator_id for d in decisions if d.moderator_id}
                    | {a.decided_by for a in appeals if a.decided_by}
                )
            )
        ).all()
    )
    answered: dict[int, int] = {}
    for appeal in appeals:
        if appeal.review_decision_id:
            answered[appeal.review_decision_id] = answered.get(appeal.review_decision_id, 0) + 1
    return ItemEvidence(
        item=item,
        cases=[_case(session, c) for c in report_cases],
        appeals=[
            AppealView(
                tracking_id=a.tracking_id,
                decision_id=a.decision_id,
                party=a.party,
                explanation=a.explanation,
                state=a.state,
                outcome=a.outcome,
                received_at=as_utc(a.created_at),
                decided_by=names.get(a.decided_by) if a.decided_by else None,
            )
            for a in appeals
        ],
        history=[
            DecisionView(
                id=d.id,
                action=d.action,
                category=d.category,
                ground_type=d.ground_type,
                automation=d.automation,
                explanation=d.explanation,
                decided_by=(
                    names.get(d.moderator_id, f"principal {d.moderator_id}")
                    if d.moderator_id
                    else "automated"
                ),
                answered_appeals=answered.get(d.id, 0),
                created_at=as_utc(d.created_at),
            )
            for d in decisions
        ],
    )


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
