"""Send the pending hotline reports: build, send through the port, preserve the evidence,
suspend the account. Run by the worker every few seconds.

Three steps, so that no write transaction waits on the port (a remote hotline may take
seconds, and SQLite's only write lock would hold every API write behind it): the reports
are built in a read-only transaction (the keys decrypt the uploader's data), sent with
no transaction open, and the outcome recorded in a short write transaction per report
(sent, with its evidence preserved and the account suspended; or the error, for the
next round). A crash between the send and the record sends again with the same
reference: the local port rewrites the same file, a remote hotline drops the repeat."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.hotline import events, service
from rempart.hotline import reporter as hotline_reporter
from rempart.hotline.models import HotlineReport
from rempart.hotline.reporter import HotlineReporter
from rempart.hotline.schemas import CyberTiplineReport
from rempart.moderation.media import forget_post_media
from rempart.moderation.models import ModerationItem
from rempart.platform import actions as platform_actions
from rempart.preservation import service as preservation
from rempart.reports import notices

log = logging.getLogger("rempart.hotline")
BATCH = 20
MAX_ATTEMPTS = 20
LEGAL_BASIS = (
    "Report of apparent child sexual abuse material: 18 U.S.C. 2258A (report and preserve "
    "for 1 year), Regulation (EU) 2021/1232 (voluntary detection and reporting)"
)
SUSPENSION_REASON = (
    "Your account was suspended: content you published breaks the law on child sexual "
    "abuse material and the Terms of Service, section 4.1."
)


@dataclass
class Attempt:
    report_id: int
    reference: str
    tip: CyberTiplineReport | None = None
    originals: list[dict[str, Any]] | None = None
    receipt: str | None = None
    error: str | None = None


def deliver(rt: Runtime, *, reporter: HotlineReporter, now: datetime | None = None) -> int:
    """Send what is pending; returns how many went. A failed send stays pending, with
    its error, and is tried again next round."""
    attempts = _build_pending(rt)
    for attempt in attempts:
        if attempt.tip is None:
            continue
        try:
            attempt.receipt = reporter.submit(attempt.tip)
        except Exception as exc:  # a port failure: kept for the next round, and never in
            # the way of the other reports.
            attempt.error = f"{type(exc).__name__}: {exc}"[:512]
    sent = 0
    for attempt in attempts:
        with transaction(rt.engine) as session:
            sent += _record(
                session,
                rt.keys,
                rt.settings,
                attempt,
                now=now or rt.now(),
                actions=rt.port(platform_actions.PORT),
            )
    return sent


def _build_pending(rt: Runtime) -> list[Attempt]:
    attempts = []
    with transaction(rt.engine, readonly=True) as session:
        pending = list(
            session.execute(
                select(HotlineReport)
                .where(HotlineReport.state == "pending", HotlineReport.attempts < MAX_ATTEMPTS)
                .order_by(HotlineReport.id)
                .limit(BATCH)
            ).scalars()
        )
        for report in pending:
            attempt = Attempt(report.id, report.reference)
            try:
                attempt.tip, attempt.originals = service.build(
                    session, keys=rt.keys, settings=rt.settings, report=report
                )
            except Exception as exc:  # a report that cannot be built waits, with why
                attempt.error = f"{type(exc).__name__}: {exc}"[:512]
            attempts.append(attempt)
    return attempts


def _record(
    session: Session,
    keys: Any,
    settings: Settings,
    attempt: Attempt,
    *,
    now: datetime,
    actions: platform_actions.PlatformActions,
) -> int:
    report = session.get(HotlineReport, attempt.report_id, with_for_update=True)
    if report is None or report.state != "pending":
        return 0
    report.attempts += 1
    if attempt.error is not None or attempt.tip is None or attempt.receipt is None:
        log.warning("hotline report %s not sent: %s", report.reference, attempt.error)
        report.last_error = attempt.error or "not sent"
        return 0
    tip = attempt.tip
    evidence = preservation.preserve(
        session,
        kind="csam_report",
        item_id=report.item_id,
        account_ref=report.account_ref,
        payload={"report": tip.model_dump(mode="json"), "media": attempt.originals or []},
        legal_basis=LEGAL_BASIS,
        keep_for=timedelta(days=settings.csam_evidence_days),
        now=now,
        keys=keys,
    )
    report.state = "sent"
    report.last_error = None
    report.receipt = attempt.receipt[:128]
    report.sent_at = now
    report.evidence_id = evidence.id
    for post_id in service.reported_posts(session, report):
        item = session.execute(
            select(ModerationItem).where(
                ModerationItem.kind == "post", ModerationItem.ref == post_id
            )
        ).scalar_one_or_none()
        if item is None or not item.pending_review:
            # Decided: the originals now live only in the preserved evidence.
            forget_post_media(session, post_id=post_id)
    audit.record(
        session,
        events.ReportSent(
            trigger=report.trigger,
            files=len(tip.uploadedFiles),
            evidence=evidence.id,
            confirmed_by_moderator=report.decision_id is not None,
        ),
        actor=service.ACTOR,
        target=f"hotline:{report.reference}",
    )
    if report.account_ref:
        suspend(
            session,
            actions=actions,
            user_id=report.account_ref,
            report=report,
            now=now,
        )
    session.flush()
    return 1


def suspend(
    session: Session,
    *,
    actions: platform_actions.PlatformActions,
    user_id: str,
    report: HotlineReport,
    now: datetime,
) -> None:
    """The uploader's account suspended on the platform, with no end date: through the
    homeserver where one is connected, and through the platform's notices either way.
    The user is told that it has no end date and when it is reviewed; the notice does
    not mention the hotline report (no tipping off)."""
    review_at = (now + service.SUSPENSION_REVIEW_AFTER).isoformat()
    actions.plan_open_suspension(
        session,
        user_id=user_id,
        cause=f"hotline:{report.reference}",
        reason=SUSPENSION_REASON,
    )
    notices.queue(
        session,
        kind="account_suspended",
        user_id=user_id,
        body={
            "reason": SUSPENSION_REASON,
            "until": None,
            "review_at": review_at,
        },
        now=now,
    )
    audit.record(
        session,
        events.AccountSuspended(report=report.reference, until=None, review_at=review_at),
        actor=service.ACTOR,
        target=f"user:{user_id}",
    )


def run(rt: Runtime) -> int:
    return deliver(rt, reporter=rt.port(hotline_reporter.PORT), now=rt.now())
