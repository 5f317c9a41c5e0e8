"""What a moderator sees before deciding: the item, every notice about it (category,
explanation, the kind and credibility of its reporter, never who they are), the raid score
with each signal's share of it, every appeal's text, and the item's history with who
decided."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.auth.models import Principal
from rempart.core.clock import as_utc
from rempart.moderation import queue
from rempart.moderation.exceptions import ItemNotFound
from rempart.moderation.hooks import review
from rempart.moderation.models import ModerationDecision
from rempart.moderation.schemas import (
    AppealView,
    DecisionView,
    ItemEvidence,
)


def of_item(session: Session, *, item_id: int) -> ItemEvidence:
    item = queue.item_view(session, item_id=item_id)
    if item is None:
        raise ItemNotFound("No moderation item has this id.")
    appeals = review.appeals_of_item(session, item_id=item_id)
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
        cases=review.cases_of_item(session, item_id=item_id),
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
