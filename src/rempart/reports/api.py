"""Notices, the reporting bot and appeals: open to the public, to platforms forwarding
their users' notices, and to trusted flaggers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.orm import Session

from rempart.auth.api import optional_caller, require
from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core import ratelimit
from rempart.core.clock import as_utc
from rempart.core.deps import Runtime, runtime
from rempart.core.errors import RateLimited, RempartError
from rempart.reports import appeals, bot, complaints, intake
from rempart.reports.schemas import (
    AppealCreate,
    AppealReceipt,
    AppealStatus,
    BatchOutcome,
    BatchReceipt,
    BotMessage,
    BotReply,
    ComplaintUnfoundedRead,
    ReportBatch,
    ReportCreate,
    ReportReceipt,
    ReportStatus,
)

router = APIRouter(tags=["reports"])

Rt = Annotated[Runtime, Depends(runtime)]
MaybeCaller = Annotated[Caller | None, Depends(optional_caller)]
Platform = Annotated[Caller, Depends(require(Permission.REPORTS_VOUCH))]
# Moderators and legal reviewers mark complaints manifestly unfounded (Art. 23(2)).
Staff = Annotated[
    Caller, Depends(require(Permission.MODERATION_DECIDE, Permission.ESCALATIONS_ANSWER))
]
TrackingId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,32}$")]


@contextmanager
def _counted_unit_of_work(rt: Runtime, key: bytes | None) -> Iterator[Session]:
    """A write counted against a rate limit in its own transaction: one commit per
    accepted request, the cost that bounds notices per second on SQLite. A request refused
    for another reason still counts, in a transaction of its own."""
    try:
        with rt.unit_of_work() as session:
            if key is not None:
                intake.count_against_limit(session, settings=rt.settings, key=key, now=rt.now())
            yield session
    except RateLimited:
        raise
    except RempartError:
        if key is not None:
            with rt.unit_of_work() as session:
                intake.count_against_limit(session, settings=rt.settings, key=key, now=rt.now())
        raise


def _network_key(rt: Runtime, request: Request) -> bytes:
    host = request.client.host if request.client else "unknown"
    return ratelimit.network_key(rt.keys, host, purpose="reports.rate")


@router.post("/v1/reports", response_model=ReportReceipt, status_code=202)
def report(body: ReportCreate, request: Request, caller: MaybeCaller, rt: Rt) -> ReportReceipt:
    """A notice (DSA Art. 16). Without a token: the public, with a name and an email
    (anonymous for child sexual abuse only), rate-limited per network. With a platform's
    token: a user it vouches for. With a trusted flagger's token: that organisation. A
    notice refused for another reason still counts against the limit."""
    if caller is None:
        network = request.client.host if request.client else None
        sender = intake.Sender(caller=None, network=network, channel="web")
        outcomes, _ = intake.receive(rt, [body], sender, limit_key=_network_key(rt, request))
    else:
        outcomes, _ = intake.receive(rt, [body], intake.sender_of(caller))
    received = outcomes[0]
    if isinstance(received, RempartError):
        raise received
    return ReportReceipt(
        tracking_id=received.tracking_id,
        status="received",
        received_at=as_utc(received.created_at),
        message=(
            "Your notice is received. A moderator will review it; you will be told the "
            "decision and how to appeal it."
        ),
    )


@router.post("/v1/reports/batch", response_model=BatchReceipt, status_code=202)
def report_batch(body: ReportBatch, caller: Platform, rt: Rt) -> BatchReceipt:
    """Up to 500 notices in one request, for platforms forwarding their users' notices and
    trusted flaggers: checked together, stored in one short transaction. Each notice is
    received or refused on its own, with the code a single request would have answered."""
    results, now = intake.receive(rt, body.notices, intake.sender_of(caller))
    outcomes = [
        BatchOutcome(index=i, status="received", tracking_id=r.tracking_id)
        if isinstance(r, intake.Received)
        else BatchOutcome(index=i, status="refused", code=r.code, message=r.message)
        for i, r in enumerate(results)
    ]
    received = sum(1 for o in outcomes if o.status == "received")
    return BatchReceipt(
        received=received,
        refused=len(outcomes) - received,
        received_at=as_utc(now),
        outcomes=outcomes,
    )


@router.get("/v1/reports/{tracking_id}", response_model=ReportStatus)
def report_status(tracking_id: TrackingId, rt: Rt) -> ReportStatus:
    with rt.unit_of_work(readonly=True) as session:
        found = intake.status(session, tracking_id=tracking_id)
        return ReportStatus(
            tracking_id=found.tracking_id,
            category=found.category,
            outcome=found.outcome,
            received_at=as_utc(found.created_at),
        )


@router.post("/v1/reports/bot", response_model=BotReply)
def bot_message(body: BotMessage, caller: Platform, rt: Rt) -> BotReply:
    """One message of a user to the platform's reporting bot; the answer is the bot's reply."""
    with rt.unit_of_work() as session:
        return bot.converse(
            session, keys=rt.keys, settings=rt.settings, caller=caller, message=body, now=rt.now()
        )


@router.post("/v1/appeals", response_model=AppealReceipt, status_code=202)
def appeal(body: AppealCreate, request: Request, caller: MaybeCaller, rt: Rt) -> AppealReceipt:
    """An appeal (DSA Art. 20) of a decision, with the secret from the link sent with it,
    or through the platform's token for a user it vouches for."""
    key = _network_key(rt, request) if caller is None else None
    with _counted_unit_of_work(rt, key) as session:
        filed = appeals.file(session, settings=rt.settings, data=body, caller=caller, now=rt.now())
        return AppealReceipt(
            tracking_id=filed.tracking_id, status="received", received_at=as_utc(filed.created_at)
        )


@router.post("/v1/appeals/{tracking_id}/unfounded", response_model=ComplaintUnfoundedRead)
def complaint_unfounded(tracking_id: TrackingId, caller: Staff, rt: Rt) -> ComplaintUnfoundedRead:
    """Mark a decided complaint, whose decision was upheld, manifestly unfounded: after
    a warning, frequent ones suspend the processing of the complainant's complaints."""
    now = rt.now()
    with rt.unit_of_work() as session:
        marked = complaints.mark_unfounded(
            session, settings=rt.settings, tracking_id=tracking_id, caller=caller, now=now
        )
        return ComplaintUnfoundedRead(
            tracking_id=marked.tracking_id, party=marked.party, unfounded_at=now
        )


@router.get("/v1/appeals/{tracking_id}", response_model=AppealStatus)
def appeal_status(tracking_id: TrackingId, rt: Rt) -> AppealStatus:
    with rt.unit_of_work(readonly=True) as session:
        found = appeals.status(session, tracking_id=tracking_id)
        return AppealStatus(
            tracking_id=found.tracking_id,
            state=found.state,
            outcome=found.outcome,
            received_at=as_utc(found.created_at),
            decided_at=as_utc(found.decided_at) if found.decided_at else None,
        )
