"""What a moderator's decision means for notices and people: the cases it closes, the
reporters it tells (Art. 16(5)) and whose track record it updates, and Art. 23 measures
against reporters of manifestly unfounded notices and owners of manifestly illegal content.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.clock import as_utc
from rempart.core.settings import Settings
from rempart.moderation.models import ModerationDecision, ModerationItem
from rempart.platform import actions as platform_actions
from rempart.reports import events, notices
from rempart.reports.models import AccountStanding, Report, ReportCase, Reporter

ACTOR = "system:reports"


def statement_source(session: Session, *, item: ModerationItem) -> str:
    """The DSA source type of a decision on this item: a notice, a trusted flagger's, or
    the platform's own initiative."""
    case = session.execute(
        select(ReportCase).where(ReportCase.item_id == item.id, ReportCase.state == "open")
    ).scalar_one_or_none()
    if case is None:
        return "SOURCE_VOLUNTARY"
    return "SOURCE_TRUSTED_FLAGGER" if case.trusted_flagger else "SOURCE_ARTICLE_16"


def after_decision(
    session: Session,
    *,
    settings: Settings,
    actions: platform_actions.PlatformActions,
    item: ModerationItem,
    decision: ModerationDecision,
    restricting: bool,
    reports_unfounded: bool,
    manifestly_illegal: bool,
    now: datetime,
) -> None:
    open_cases = list(
        session.execute(
            select(ReportCase).where(ReportCase.item_id == item.id, ReportCase.state == "open")
        ).scalars()
    )
    outcome = "action_taken" if restricting else "no_action"
    reporter_ids: set[int] = set()
    # "Manifestly unfounded" is per notice: in a case marked as a raid it reaches the
    # notices of the coordinated pattern only, never the genuine reporters beside them.
    unfounded_ids: set[int] = set()
    for case in open_cases:
        unfounded_ids.update(
            r
            for r in session.execute(
                select(Report.reporter_id).where(
                    Report.case_id == case.id,
                    Report.reporter_id.is_not(None),
                    *([Report.coordinated.is_(True)] if case.raid_suspected else []),
                )
            ).scalars()
            if r is not None
        )
        case.state = "decided"
        case.decision_id = decision.id
        case.decided_at = now
        reporter_ids.update(
            r
            for r in session.execute(
                select(Report.reporter_id).where(
                    Report.case_id == case.id, Report.reporter_id.is_not(None)
                )
            ).scalars()
            if r is not None
        )
        session.execute(
            update(Report)
            .where(Report.case_id == case.id, Report.outcome == "open")
            .values(outcome=outcome)
            .execution_options(synchronize_session=False)
        )
    deadline = notices.appeal_deadline(now, settings.appeal_window_days)
    for reporter_id in sorted(reporter_ids):
        reporter = session.get(Reporter, reporter_id)
        if reporter is None:
            continue
        if restricting:
            reporter.upheld += 1
        else:
            reporter.rejected += 1
        notices.queue(
            session,
            kind="report_decision",
            reporter_id=reporter.id,
            now=now,
            body={
                "decision": decision.action,
                "category": decision.category,
                "explanation": decision.explanation,
                "target": f"{item.kind}:{item.ref}",
                "appeal_until": deadline.isoformat(),
                "appeal_link": notices.appeal_link(
                    session,
                    decision_id=decision.id,
                    party="reporter",
                    reporter_id=reporter.id,
                    expires_at=deadline,
                    link_base=settings.public_url,
                ),
            },
        )
        if reports_unfounded and not restricting and reporter.id in unfounded_ids:
            _unfounded(session, settings, reporter, now)
    if manifestly_illegal and restricting and item.owner_user_id:
        _illegal_content(session, settings, item.owner_user_id, now, actions=actions)


def _unfounded(session: Session, settings: Settings, reporter: Reporter, now: datetime) -> None:
    reporter.unfounded += 1
    if reporter.unfounded >= settings.reporter_suspend_after:
        until = now + timedelta(days=settings.reporter_suspension_days)
        reporter.suspended_until = until
        reporter.unfounded = 0
        reporter.warned_at = None
        kind = "reporter_suspended"
        body = {
            "until": until.isoformat(),
            "reason": (
                f"{settings.reporter_suspend_after} of your notices were manifestly unfounded; "
                "notices you send before this date will not be processed (DSA Art. 23(2))."
            ),
        }
    elif reporter.unfounded >= settings.reporter_warn_after and reporter.warned_at is None:
        reporter.warned_at = now
        kind = "reporter_warning"
        body = {
            "reason": (
                f"{reporter.unfounded} of your notices were manifestly unfounded. After "
                f"{settings.reporter_suspend_after}, their processing will be suspended for "
                f"{settings.reporter_suspension_days} days (DSA Art. 23(2))."
            )
        }
    else:
        return
    notices.queue(session, kind=kind, reporter_id=reporter.id, body=body, now=now)
    measure = events.ReporterSuspended if kind == "reporter_suspended" else events.ReporterWarned
    audit.record(
        session, measure(until=body.get("until")), actor=ACTOR, target=f"reporter:{reporter.id}"
    )


def _illegal_content(
    session: Session,
    settings: Settings,
    user_id: str,
    now: datetime,
    *,
    actions: platform_actions.PlatformActions,
) -> None:
    standing = session.get(AccountStanding, user_id)
    if standing is None:
        standing = AccountStanding(user_id=user_id, manifestly_illegal=0, updated_at=now)
        session.add(standing)
    standing.manifestly_illegal += 1
    standing.updated_at = now
    suspended = standing.suspended_until is not None and as_utc(standing.suspended_until) > now
    if standing.manifestly_illegal >= settings.account_suspend_after and not suspended:
        until = now + timedelta(days=settings.account_suspension_days)
        standing.suspended_until = until
        standing.manifestly_illegal = 0
        standing.warned_at = None
        kind, body = (
            "account_suspended",
            {
                "until": until.isoformat(),
                "reason": (
                    "Your public content was found manifestly illegal "
                    f"{settings.account_suspend_after} times; the account is suspended "
                    "until this date (DSA Art. 23(1)). The platform applies the suspension."
                ),
            },
        )
        actions.plan_account_suspension(
            session, user_id=user_id, until=until, reason=body["reason"]
        )
    elif standing.manifestly_illegal >= settings.account_warn_after and standing.warned_at is None:
        standing.warned_at = now
        kind, body = (
            "account_warning",
            {
                "reason": (
                    f"Your public content was found manifestly illegal "
                    f"{standing.manifestly_illegal} times. After "
                    f"{settings.account_suspend_after}, the account will be suspended for "
                    f"{settings.account_suspension_days} days (DSA Art. 23(1))."
                )
            },
        )
    else:
        return
    notices.queue(session, kind=kind, user_id=user_id, body=body, now=now)
    measure = events.AccountSuspended if kind == "account_suspended" else events.AccountWarned
    audit.record(session, measure(until=body.get("until")), actor=ACTOR, target=f"user:{user_id}")
