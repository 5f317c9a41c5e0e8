"""Appeals (DSA Art. 20): the owner of restricted content, or a reporter, contests a
decision within six months. The item goes back to the queue, where any moderator but the
one who took the decision decides again; a reversal restores visibility at once."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.clock import as_utc
from rempart.core.settings import Settings
from rempart.moderation.models import ModerationDecision, ModerationItem
from rempart.reports import notices
from rempart.reports.exceptions import (
    AppealExists,
    AppealLinkInvalid,
    AppealNotAllowed,
    AppealNotFound,
    AppealWindowClosed,
    DecisionSuperseded,
    SecondModeratorRequired,
)
from rempart.reports.models import Appeal, AppealSecret, Report, ReportCase, Reporter
from rempart.reports.schemas import AppealCreate

# Appeals go ahead of ordinary cases: someone is waiting for a decision about themselves.
APPEAL_PRIORITY = 500.0


def _party(
    session: Session, data: AppealCreate, caller: Caller | None, now: datetime
) -> tuple[ModerationDecision, str, str | None, int | None]:
    """The decision appealed and who appeals it: (decision, party, user_id, reporter_id)."""
    if data.secret is not None:
        link = session.get(AppealSecret, notices.secret_hash(data.secret))
        if link is None or as_utc(link.expires_at) <= now:
            raise AppealLinkInvalid("This appeal link is not valid, or has expired.")
        decision = session.get(ModerationDecision, link.decision_id)
        if decision is None:
            raise AppealLinkInvalid("This appeal link is not valid, or has expired.")
        return decision, link.party, link.user_id, link.reporter_id
    if caller is None or caller.role is not Role.PLATFORM:
        raise AppealLinkInvalid("Appeal with the link you received, or through the platform.")
    if data.decision_id is None or data.platform_user_id is None:
        raise AppealNotAllowed("Through the platform, name the decision and the user.")
    decision = session.get(ModerationDecision, data.decision_id)
    item = session.get(ModerationItem, decision.item_id) if decision else None
    if decision is None or item is None:
        raise AppealNotFound("No decision has this id.")
    if item.owner_user_id == data.platform_user_id:
        return decision, "owner", data.platform_user_id, None
    reporter_id = session.execute(
        select(Reporter.id)
        .join(Report, Report.reporter_id == Reporter.id)
        .join(ReportCase, ReportCase.id == Report.case_id)
        .where(
            ReportCase.decision_id == decision.id,
            Reporter.platform_user_id == data.platform_user_id,
            Reporter.principal_id == caller.principal_id,
        )
        .limit(1)
    ).scalar_one_or_none()
    if reporter_id is None:
        raise AppealNotAllowed("This user neither owns the content nor reported it.")
    return decision, "reporter", None, reporter_id


def file(
    session: Session,
    settings: Settings,
    *,
    data: AppealCreate,
    caller: Caller | None,
    now: datetime,
) -> Appeal:
    decision, party, user_id, reporter_id = _party(session, data, caller, now)
    if now > notices.appeal_deadline(as_utc(decision.created_at), settings.appeal_window_days):
        raise AppealWindowClosed(
            f"Decisions may be appealed for {settings.appeal_window_days} days."
        )
    item = session.get(ModerationItem, decision.item_id)
    if item is None:
        raise AppealNotFound("No decision has this id.")
    latest = session.execute(
        select(ModerationDecision.id)
        .where(ModerationDecision.item_id == item.id)
        .order_by(ModerationDecision.id.desc())
        .limit(1)
    ).scalar_one()
    if latest != decision.id:
        raise DecisionSuperseded("A later decision replaced this one; appeal that one.")
    duplicate = session.execute(
        select(Appeal.id).where(
            Appeal.decision_id == decision.id,
            Appeal.party == party,
            Appeal.user_id == user_id if user_id else Appeal.reporter_id == reporter_id,
        )
    ).first()
    if duplicate is not None:
        raise AppealExists("This decision has already been appealed by you.")
    appeal = Appeal(
        tracking_id=secrets.token_urlsafe(12),
        decision_id=decision.id,
        item_id=item.id,
        party=party,
        user_id=user_id,
        reporter_id=reporter_id,
        explanation=data.explanation,
        state="open",
        first_moderator_id=decision.moderator_id,
        created_at=now,
    )
    session.add(appeal)
    item.pending_review = True
    item.queue_reason = "appeal"
    item.priority = APPEAL_PRIORITY
    item.queued_at = now
    item.claimed_by = item.claimed_until = None
    item.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=caller.actor if caller else f"appellant:{party}",
        action="reports.appeal.filed",
        target=f"{item.kind}:{item.ref}",
        details={"appeal": appeal.tracking_id, "decision": decision.id, "party": party},
    )
    return appeal


def excluded_for(caller: Caller) -> ColumnElement[bool]:
    """Items the caller may not take: appeals against their own decisions."""
    return ~exists().where(
        Appeal.item_id == ModerationItem.id,
        Appeal.state == "open",
        Appeal.first_moderator_id == caller.principal_id,
    )


def before_decision(session: Session, item: ModerationItem, caller: Caller) -> Appeal | None:
    appeal = session.execute(
        select(Appeal).where(Appeal.item_id == item.id, Appeal.state == "open")
    ).scalar_one_or_none()
    if appeal is not None and appeal.first_moderator_id == caller.principal_id:
        raise SecondModeratorRequired(
            "An appeal is decided by another moderator than the one who took the decision."
        )
    return appeal


def settle(
    session: Session,
    appeal: Appeal,
    *,
    decision: ModerationDecision,
    caller: Caller,
    now: datetime,
) -> None:
    appealed = session.get(ModerationDecision, appeal.decision_id)
    appeal.state = "decided"
    appeal.outcome = "upheld" if appealed and appealed.action == decision.action else "reversed"
    appeal.decided_by = caller.principal_id
    appeal.review_decision_id = decision.id
    appeal.decided_at = now
    notices.queue(
        session,
        kind="appeal_decision",
        user_id=appeal.user_id,
        reporter_id=appeal.reporter_id,
        now=now,
        body={
            "appeal": appeal.tracking_id,
            "outcome": appeal.outcome,
            "decision": decision.action,
            "explanation": decision.explanation,
        },
    )
    audit.record(
        session,
        actor=caller.actor,
        action="reports.appeal.decided",
        details={"appeal": appeal.tracking_id, "outcome": appeal.outcome},
    )


def status(session: Session, *, tracking_id: str) -> Appeal:
    appeal = session.execute(
        select(Appeal).where(Appeal.tracking_id == tracking_id)
    ).scalar_one_or_none()
    if appeal is None:
        raise AppealNotFound("No appeal has this tracking id.")
    return appeal
