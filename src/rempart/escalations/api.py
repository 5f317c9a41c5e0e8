"""Thin JSON routes for DSA Art. 18 escalations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from rempart.auth.api import require
from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core.deps import Runtime, runtime
from rempart.escalations import service
from rempart.escalations.schemas import (
    EscalationCreate,
    EscalationDecline,
    EscalationPage,
    EscalationRead,
    EscalationState,
    NotificationRead,
)

router = APIRouter(prefix="/v1/escalations", tags=["escalations"])

Moderator = Annotated[Caller, Depends(require(Permission.ESCALATIONS_CREATE))]
Reviewer = Annotated[Caller, Depends(require(Permission.ESCALATIONS_CONFIRM))]
Either = Annotated[
    Caller,
    Depends(require(Permission.ESCALATIONS_CREATE, Permission.ESCALATIONS_CONFIRM)),
]
Rt = Annotated[Runtime, Depends(runtime)]
Reference = Annotated[str, Path(pattern=r"^A18-\d{4}-\d{6,}$", max_length=32)]


@router.post("", response_model=EscalationRead, status_code=201)
def escalate(body: EscalationCreate, caller: Moderator, rt: Rt) -> EscalationRead:
    with rt.unit_of_work() as session:
        return service.escalate(
            session, keys=rt.keys, settings=rt.settings, caller=caller, data=body
        )


@router.get("", response_model=EscalationPage)
def list_escalations(
    caller: Either,
    rt: Rt,
    state: EscalationState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> EscalationPage:
    with rt.unit_of_work(readonly=True) as session:
        return service.list_escalations(session, state=state, limit=limit, offset=offset)


@router.get("/{reference}", response_model=EscalationRead)
def get_escalation(reference: Reference, caller: Either, rt: Rt) -> EscalationRead:
    with rt.unit_of_work(readonly=True) as session:
        return service.get(session, reference=reference)


@router.get("/{reference}/notification", response_model=NotificationRead)
def read_notification(reference: Reference, caller: Reviewer, rt: Rt) -> NotificationRead:
    """The prepared notification, personal data included: legal reviewers only, audited."""
    with rt.unit_of_work() as session:
        return service.read_notification(session, keys=rt.keys, caller=caller, reference=reference)


@router.post("/{reference}/confirm", response_model=EscalationRead)
def confirm(reference: Reference, caller: Reviewer, rt: Rt) -> EscalationRead:
    """Confirmed and queued: the worker sends it within seconds."""
    with rt.unit_of_work() as session:
        return service.confirm(session, caller=caller, reference=reference)


@router.post("/{reference}/decline", response_model=EscalationRead)
def decline(
    reference: Reference, body: EscalationDecline, caller: Reviewer, rt: Rt
) -> EscalationRead:
    with rt.unit_of_work() as session:
        return service.decline(session, caller=caller, reference=reference, reason=body.reason)
