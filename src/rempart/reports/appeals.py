"""Appeals (DSA Art. 20): the owner of restricted content contests the restriction, a
reporter contests a refusal to act on what they reported, each once per decision, within
six months. The item goes back to the queue, where any moderator but the one who took the
decision decides every open appeal of it at once; a reversal restores visibility at once.

Many appellants cannot jam an item: their appeals are all answered by the next decision.
A reporter's appeal never restricts anything by itself, and one whose notice was part of a
suspected raid waits behind the owner's."""

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
from rempart.moderation import reasons
from rempart.moderation.models import ModerationDecision, ModerationItem
from rempart.reports import complaints, events, notices
from rempart.reports.exceptions import (
    AppealExists,
    AppealLinkInvalid,
    AppealNotAllowed,
    AppealNotFound,
    AppealWindowClosed,
    DecisionSuperseded,
    NothingToAppeal,
    SecondModeratorRequired,
)
from rempart.reports.models import Appeal, AppealSecret, Report, ReportCase, Reporter
from rempart.reports.schemas import AppealCreate

# Appeals go ahead of ordinary cases: someone is waiting for a decision about themselves.
APPEAL_PRIORITY = 500.0
# A reporter whose notice was part of a suspected raid is heard, but after everyone else.
COORDINATED_APPEAL_PRIORITY = 5.0


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
    *,
    settings: Settings,
    data: AppealCreate,
    caller: Caller | None,
    now: datetime,
) -> Appeal:
    decision, party, user_id, reporter_id = _party(session, data, caller, now)
    complaints.check(session, party=party, user_id=user_id, reporter_id=reporter_id, now=now)
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
    restricting = decision.action != "no_violation"
    if party == "owner" and not restricting:
        raise NothingToAppeal("This decision restricts nothing of yours.")
    if party == "reporter" and restricting:
        raise NothingToAppeal("Action was taken on what you reported.")
    mine = Appeal.user_id == user_id if party == "owner" else Appeal.reporter_id == reporter_id
    duplicate = session.execute(
        select(Appeal.id).where(Appeal.decision_id == decision.id, Appeal.party == party, mine)
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
    priority = APPEAL_PRIORITY
    if party == "reporter" and _coordinated(session, decision.id, reporter_id):
        priority = COORDINATED_APPEAL_PRIORITY
    current = reasons.active(item).get("appeal", 0.0)
    reasons.put(item, "appeal", max(current, priority), now=now)
    session.flush()
    audit.record(
        session,
        events.AppealFiled(appeal=appeal.tracking_id, decision=decision.id, party=party),
        actor=caller.actor if caller else f"appellant:{party}",
        target=f"{item.kind}:{item.ref}",
    )
    return appeal


def excluded_for(caller: Caller) -> ColumnElement[bool]:
    """Items the caller may not take: appeals against their own decisions."""
    return ~exists().where(
        Appeal.item_id == ModerationItem.id,
        Appeal.state == "open",
        Appeal.first_moderator_id == caller.principal_id,
    )


def open_appeals(session: Session, *, item_id: int) -> list[Appeal]:
    return list(
        session.execute(
            select(Appeal)
            .where(Appeal.item_id == item_id, Appeal.state == "open")
            .order_by(Appeal.id)
        ).scalars()
    )


def before_decision(session: Session, *, item: ModerationItem, caller: Caller) -> list[Appeal]:
    """The open appeals the coming decision answers, all of them."""
    pending = open_appeals(session, item_id=item.id)
    if any(a.first_moderator_id == caller.principal_id for a in pending):
        raise SecondModeratorRequired(
            "An appeal is decided by another moderator than the one who took the decision."
        )
    return pending


def settle(
    session: Session,
    *,
    pending: list[Appeal],
    decision: ModerationDecision,
    caller: Caller,
    now: datetime,
) -> None:
    for appeal in pending:
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
        # One entry per appeal, under the keys the transparency figures read: entries
        # naming a batch of appeals were never counted as decided.
        decided = events.AppealDecided(
            appeal=appeal.tracking_id, outcome=appeal.outcome, decision=decision.id
        )
        audit.record(session, decided, actor=caller.actor)


def settled_by(session: Session, *, decision_id: int) -> bool:
    """Whether this decision answered an appeal: its outcome then stands."""
    found = session.execute(
        select(Appeal.id).where(Appeal.review_decision_id == decision_id).limit(1)
    ).first()
    return found is not None


def _coordinated(session: Session, decision_id: int, reporter_id: int | None) -> bool:
    """Whether the appellant's notices on the decided case were all part of a raid."""
    rows = session.execute(
        select(Report.coordinated)
        .join(ReportCase, ReportCase.id == Report.case_id)
        .where(ReportCase.decision_id == decision_id, Report.reporter_id == reporter_id)
    ).scalars()
    flags = list(rows)
    return bool(flags) and all(flags)


def status(session: Session, *, tracking_id: str) -> Appeal:
    appeal = session.execute(
        select(Appeal).where(Appeal.tracking_id == tracking_id)
    ).scalar_one_or_none()
    if appeal is None:
        raise AppealNotFound("No appeal has this tracking id.")
    return appeal
