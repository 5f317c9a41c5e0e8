"""DSA Art. 23(2) for internal complaints: suspending, for a reasonable period and after a
prior warning, the processing of complaints from those who frequently file manifestly
unfounded ones. (Notices have theirs in ``outcomes.py``.)

A moderator or a legal reviewer marks a decided complaint manifestly unfounded, only once
the decision it contested was upheld. When ``complainant_warn_after`` of a complainant's
complaints were so marked within ``complainant_window_days``, they are warned (told and
audited); one more after the warning suspends the processing of their complaints for
``complainant_suspension_days``, and ``check`` then refuses their complaints with 403
``submissions_suspended`` naming the end date.

A raid never silences the channel it targets: the owner's complaint against a decision on
a case marked as a suspected raid cannot be marked manifestly unfounded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth.service import Caller
from rempart.core.clock import as_utc
from rempart.core.db import dialect_insert
from rempart.core.settings import Settings
from rempart.reports import events, notices
from rempart.reports.exceptions import (
    AppealNotFound,
    ComplaintAlreadyMarked,
    ComplaintNotUpheld,
    RaidTargetProtected,
    SubmissionsSuspended,
)
from rempart.reports.models import Appeal, ComplainantStanding, ReportCase

ACTOR = "system:reports"


def complainant(*, party: str, user_id: str | None, reporter_id: int | None) -> str:
    """Who files a complaint, as their standing is kept."""
    return f"user:{user_id}" if party == "owner" else f"reporter:{reporter_id}"


def check(
    session: Session, *, party: str, user_id: str | None, reporter_id: int | None, now: datetime
) -> None:
    """Refuse a complaint from a complainant whose complaints are suspended (Art. 23(2))."""
    who = complainant(party=party, user_id=user_id, reporter_id=reporter_id)
    until = session.execute(
        select(ComplainantStanding.suspended_until).where(ComplainantStanding.complainant == who)
    ).scalar_one_or_none()
    if until is not None and as_utc(until) > now:
        raise SubmissionsSuspended(
            "The processing of your complaints is suspended (DSA Art. 23(2)) until "
            f"{as_utc(until).date().isoformat()}, because several of them were manifestly "
            "unfounded.",
            until=as_utc(until).isoformat(),
        )


def mark_unfounded(
    session: Session, *, settings: Settings, tracking_id: str, caller: Caller, now: datetime
) -> Appeal:
    appeal = session.execute(
        select(Appeal).where(Appeal.tracking_id == tracking_id).with_for_update()
    ).scalar_one_or_none()
    if appeal is None:
        raise AppealNotFound("No appeal has this tracking id.")
    if appeal.state != "decided" or appeal.outcome != "upheld":
        raise ComplaintNotUpheld(
            "Only a decided complaint whose decision was upheld can be manifestly unfounded."
        )
    if appeal.unfounded_at is not None:
        raise ComplaintAlreadyMarked("This complaint is already marked manifestly unfounded.")
    if appeal.party == "owner" and _raided(session, appeal.decision_id):
        raise RaidTargetProtected(
            "The decision followed notices marked as a suspected raid: the owner's complaint "
            "cannot be counted against them."
        )
    appeal.unfounded_at = now
    audit.record(
        session,
        events.ComplaintUnfounded(appeal=appeal.tracking_id, party=appeal.party),
        actor=caller.actor,
        target=complainant(
            party=appeal.party, user_id=appeal.user_id, reporter_id=appeal.reporter_id
        ),
    )
    _measure(session, settings, appeal, now)
    session.flush()
    return appeal


def _raided(session: Session, decision_id: int) -> bool:
    found = session.execute(
        select(ReportCase.id)
        .where(ReportCase.decision_id == decision_id, ReportCase.raid_suspected.is_(True))
        .limit(1)
    ).first()
    return found is not None


def _measure(session: Session, settings: Settings, appeal: Appeal, now: datetime) -> None:
    who = complainant(party=appeal.party, user_id=appeal.user_id, reporter_id=appeal.reporter_id)
    # Created if need be without a race (two markings at once), then locked: the second
    # marking waits and counts the first.
    session.execute(
        dialect_insert(session, ComplainantStanding)
        .values(complainant=who, updated_at=now)
        .on_conflict_do_nothing(index_elements=["complainant"])
    )
    standing = session.execute(
        select(ComplainantStanding)
        .where(ComplainantStanding.complainant == who)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    standing.updated_at = now
    window = now - timedelta(days=settings.complainant_window_days)
    warned = standing.warned_at is not None and as_utc(standing.warned_at) > window
    if warned:
        until = now + timedelta(days=settings.complainant_suspension_days)
        standing.suspended_until = until
        standing.warned_at = None
        standing.counted_from = now
        kind = "complainant_suspended"
        body = {
            "until": until.isoformat(),
            "reason": (
                "After a warning, another of your complaints was manifestly unfounded; "
                "complaints you file before this date will not be processed (DSA Art. 23(2))."
            ),
        }
    else:
        since = max(window, as_utc(standing.counted_from)) if standing.counted_from else window
        mine = (
            Appeal.user_id == appeal.user_id
            if appeal.party == "owner"
            else Appeal.reporter_id == appeal.reporter_id
        )
        count = session.execute(
            select(func.count(Appeal.id)).where(
                Appeal.party == appeal.party, mine, Appeal.unfounded_at >= since
            )
        ).scalar_one()
        if count < settings.complainant_warn_after:
            return
        standing.warned_at = now
        kind = "complainant_warning"
        body = {
            "reason": (
                f"{count} of your complaints were manifestly unfounded. Another one within "
                f"{settings.complainant_window_days} days will suspend the processing of your "
                f"complaints for {settings.complainant_suspension_days} days (DSA Art. 23(2))."
            )
        }
    notices.queue(
        session,
        kind=kind,
        user_id=appeal.user_id if appeal.party == "owner" else None,
        reporter_id=appeal.reporter_id if appeal.party == "reporter" else None,
        body=body,
        now=now,
    )
    measure = (
        events.ComplainantSuspended if kind == "complainant_suspended" else events.ComplainantWarned
    )
    audit.record(session, measure(until=body.get("until")), actor=ACTOR, target=who)
