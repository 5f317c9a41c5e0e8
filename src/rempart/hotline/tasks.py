"""Send the pending hotline reports: build, send through the port, preserve the evidence,
suspend the account. Run by the worker every few seconds.

The default port writes a local file, so the send happens inside the worker's
transaction, as the other local outboxes do: a report is never marked sent without the
file, and a retry after a crash rewrites the same file. A port that calls a remote
hotline would send between two short transactions, as ``rempart dsa submit`` does."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.clock import utcnow
from rempart.core.crypto import KeyRing
from rempart.core.deps import Runtime
from rempart.core.settings import Settings
from rempart.hotline import service
from rempart.hotline.models import HotlineReport
from rempart.hotline.reporter import DirectoryHotline, HotlineReporter
from rempart.moderation.media import forget_post_media
from rempart.moderation.models import ModerationItem
from rempart.platform.adapters.matrix import actions as matrix_actions
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


def deliver(
    session: Session,
    *,
    keys: KeyRing,
    settings: Settings,
    reporter: HotlineReporter,
    now: datetime,
) -> int:
    """Send what is pending; returns how many went. A failed send stays pending, with
    its error, and is tried again next round."""
    pending = list(
        session.execute(
            select(HotlineReport)
            .where(HotlineReport.state == "pending", HotlineReport.attempts < MAX_ATTEMPTS)
            .order_by(HotlineReport.id)
            .limit(BATCH)
        ).scalars()
    )
    sent = 0
    for report in pending:
        try:
            tip, originals = service.build(session, keys=keys, settings=settings, report=report)
            receipt = reporter.submit(tip)
        except Exception as exc:  # a port failure, or a report that cannot be built:
            # kept for the next round, and never in the way of the other reports.
            log.warning("hotline report %s not sent: %s", report.reference, type(exc).__name__)
            report.attempts += 1
            report.last_error = f"{type(exc).__name__}: {exc}"[:512]
            continue
        item = session.get(ModerationItem, report.item_id)
        assert item is not None
        evidence = preservation.preserve(
            session,
            kind="csam_report",
            item_id=report.item_id,
            account_ref=report.account_ref,
            payload={"report": tip.model_dump(mode="json"), "media": originals},
            legal_basis=LEGAL_BASIS,
            keep_for=timedelta(days=settings.csam_evidence_days),
            now=now,
            keys=keys,
        )
        report.state = "sent"
        report.attempts += 1
        report.last_error = None
        report.receipt = receipt[:128]
        report.sent_at = now
        report.evidence_id = evidence.id
        if not item.pending_review:
            # Decided: the originals now live only in the preserved evidence.
            forget_post_media(session, post_id=item.ref)
        audit.record(
            session,
            actor=service.ACTOR,
            action="hotline.report.sent",
            target=f"hotline:{report.reference}",
            details={
                "trigger": report.trigger,
                "files": len(tip.uploadedFiles),
                "evidence": evidence.id,
                "confirmed_by_moderator": report.decision_id is not None,
            },
        )
        if report.account_ref:
            suspend(session, settings=settings, user_id=report.account_ref, report=report, now=now)
        sent += 1
    session.flush()
    return sent


def suspend(
    session: Session, *, settings: Settings, user_id: str, report: HotlineReport, now: datetime
) -> None:
    """The uploader's account suspended on the platform, with no end date: through the
    homeserver where one is connected, and through the platform's notices either way.
    The notice does not mention the hotline report (no tipping off)."""
    matrix_actions.plan_open_suspension(
        session,
        settings=settings,
        user_id=user_id,
        cause=f"hotline:{report.reference}",
        reason=SUSPENSION_REASON,
    )
    notices.queue(
        session,
        kind="account_suspended",
        user_id=user_id,
        body={"reason": SUSPENSION_REASON, "until": None},
        now=now,
    )
    audit.record(
        session,
        actor=service.ACTOR,
        action="hotline.account.suspended",
        target=f"user:{user_id}",
        details={"report": report.reference},
    )


def run(session: Session, rt: Runtime) -> int:
    return deliver(
        session,
        keys=rt.keys,
        settings=rt.settings,
        reporter=DirectoryHotline(rt.settings.hotline_directory),
        now=utcnow(),
    )
