"""Out-of-court dispute settlement (DSA Art. 21): a recipient takes a moderation decision
to a certified body; the platform records the dispute and, later, the body's decision and
whether the platform implemented it. The DSA report counts both (Art. 24(1)(a))."""

from __future__ import annotations

import secrets
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.clock import now_of
from rempart.core.errors import Conflict, NotFound
from rempart.reports import events
from rempart.reports.models import OutOfCourtDispute


class DisputeOutcome(StrEnum):
    IN_FAVOUR_OF_RECIPIENT = "in_favour_of_recipient"
    IN_FAVOUR_OF_PROVIDER = "in_favour_of_provider"
    SETTLED = "settled"
    DISCONTINUED = "discontinued"


class DisputeNotFound(NotFound):
    code = "dispute_not_found"


class DisputeAlreadyDecided(Conflict):
    code = "dispute_already_decided"


def submit(
    session: Session, *, settlement_body: str, decision_id: int | None, actor: str
) -> OutOfCourtDispute:
    dispute = OutOfCourtDispute(
        tracking_id=f"ods-{secrets.token_hex(8)}",
        settlement_body=settlement_body,
        decision_id=decision_id,
        submitted_at=now_of(session),
    )
    session.add(dispute)
    session.flush()
    audit.record(
        session,
        events.DisputeSubmitted(dispute=dispute.tracking_id, settlement_body=settlement_body),
        actor=actor,
    )
    return dispute


def decide(
    session: Session, *, tracking_id: str, outcome: DisputeOutcome, implemented: bool, actor: str
) -> OutOfCourtDispute:
    dispute = session.execute(
        select(OutOfCourtDispute).where(OutOfCourtDispute.tracking_id == tracking_id)
    ).scalar_one_or_none()
    if dispute is None:
        raise DisputeNotFound("No out-of-court dispute has this tracking id.")
    if dispute.decided_at is not None:
        raise DisputeAlreadyDecided("This dispute's decision is already recorded.")
    dispute.decided_at = now_of(session)
    dispute.outcome = outcome.value
    dispute.implemented = implemented
    audit.record(
        session,
        events.DisputeDecided(dispute=tracking_id, outcome=outcome.value, implemented=implemented),
        actor=actor,
    )
    return dispute
