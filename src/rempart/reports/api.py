"""Notices, the reporting bot and appeals: open to the public, to platforms forwarding
their users' notices, and to trusted flaggers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from rempart.auth.api import optional_caller, require
from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core import ratelimit
from rempart.core.clock import as_utc, utcnow
from rempart.core.deps import Runtime, runtime
from rempart.reports import appeals, bot, intake
from rempart.reports.schemas import (
    AppealCreate,
    AppealReceipt,
    AppealStatus,
    BotMessage,
    BotReply,
    ReportCreate,
    ReportReceipt,
    ReportStatus,
)

router = APIRouter(tags=["reports"])

Rt = Annotated[Runtime, Depends(runtime)]
MaybeCaller = Annotated[Caller | None, Depends(optional_caller)]
Platform = Annotated[Caller, Depends(require(Permission.REPORTS_VOUCH))]
TrackingId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,32}$")]


def _limit(rt: Runtime, key: bytes) -> None:
    # In its own transaction: refused and failing requests count too.
    with rt.unit_of_work() as session:
        ratelimit.hit(
            session,
            key=key,
            limit=rt.settings.report_rate_limit,
            window_seconds=rt.settings.report_rate_window_seconds,
            now=utcnow(),
        )


def _network_key(rt: Runtime, request: Request) -> bytes:
    host = request.client.host if request.client else "unknown"
    return ratelimit.network_key(rt.keys, host, purpose="reports.rate")


@router.post("/v1/reports", response_model=ReportReceipt, status_code=202)
def report(body: ReportCreate, request: Request, caller: MaybeCaller, rt: Rt) -> ReportReceipt:
    """A notice (DSA Art. 16). Without a token: the public, with a name and an email
    (anonymous for child sexual abuse only), rate-limited per network. With a platform's
    token: a user it vouches for. With a trusted flagger's token: that organisation."""
    if caller is None:
        _limit(rt, _network_key(rt, request))
        network = request.client.host if request.client else None
        sender = intake.Sender(caller=None, network=network, channel="web")
    else:
        if body.platform_user_id is not None:
            key = f"{caller.principal_id}:{body.platform_user_id}"
            _limit(rt, rt.keys.blind_index(key, purpose="reports.rate.user"))
        channel = "flagger" if caller.role.value == "flagger" else "platform"
        sender = intake.Sender(caller=caller, network=None, channel=channel)
    with rt.unit_of_work() as session:
        received = intake.submit(
            session, rt.keys, rt.settings, data=body, sender=sender, now=utcnow()
        )
        return ReportReceipt(
            tracking_id=received.tracking_id,
            status="received",
            received_at=as_utc(received.created_at),
            message=(
                "Your notice is received. A moderator will review it; you will be told the "
                "decision and how to appeal it."
            ),
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
            session, rt.keys, rt.settings, caller=caller, message=body, now=utcnow()
        )


@router.post("/v1/appeals", response_model=AppealReceipt, status_code=202)
def appeal(body: AppealCreate, request: Request, caller: MaybeCaller, rt: Rt) -> AppealReceipt:
    """An appeal (DSA Art. 20) of a decision, with the secret from the link sent with it,
    or through the platform's token for a user it vouches for."""
    if caller is None:
        _limit(rt, _network_key(rt, request))
    with rt.unit_of_work() as session:
        filed = appeals.file(session, rt.settings, data=body, caller=caller, now=utcnow())
        return AppealReceipt(
            tracking_id=filed.tracking_id, status="received", received_at=as_utc(filed.created_at)
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
