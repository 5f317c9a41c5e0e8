"""Orders over HTTP: authorities submit and follow, legal reviewers analyse and release."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rempart.audit import service as audit
from rempart.auth.api import require
from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core.deps import Runtime, runtime
from rempart.legal import (
    acts,
    callbacks,
    disclosures,
    followups,
    holds,
    protection,
    reads,
    service,
)
from rempart.legal.act_schemas import ActConfirmation
from rempart.legal.disclosures import DisclosureDownload
from rempart.legal.schemas import (
    CallbackCreate,
    OrderAlert,
    OrderPage,
    OrderRead,
    OrderStatus,
    ProtectedAccountRead,
    ProtectionCreate,
    ReviewCreate,
)

router = APIRouter(prefix="/v1/legal", tags=["legal"])

Submitter = Annotated[Caller, Depends(require(Permission.ORDERS_SUBMIT))]
Reader = Annotated[Caller, Depends(require(Permission.ORDERS_REVIEW, Permission.ORDERS_READ_OWN))]
Reviewer = Annotated[Caller, Depends(require(Permission.ORDERS_REVIEW))]
Releaser = Annotated[Caller, Depends(require(Permission.DISCLOSURES_RELEASE))]
Downloader = Annotated[Caller, Depends(require(Permission.DISCLOSURES_DOWNLOAD))]
Rt = Annotated[Runtime, Depends(runtime)]
Reference = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
UserId = Annotated[str, Path(min_length=1, max_length=128)]


class SignedToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jws: str = Field(min_length=1, max_length=64 * 1024)


class DisclosureReceipt(BaseModel):
    order_reference: str
    sha256: str
    released_at: datetime


@router.post("/orders", response_model=OrderRead, status_code=201)
def submit_order(
    caller: Submitter,
    rt: Rt,
    jws: Annotated[str, Form(min_length=1, max_length=64 * 1024)],
    document: Annotated[UploadFile, File()],
) -> OrderRead:
    # One byte past the limit is enough to know the document is too large.
    content = document.file.read(rt.settings.order_document_max_bytes + 1)
    return service.submit_order(rt, caller=caller, token=jws.strip(), document=content)


@router.get("/orders", response_model=OrderPage)
def list_orders(
    caller: Reader,
    rt: Rt,
    status: OrderStatus | None = None,
    due_before: AwareDatetime | None = None,
    overdue: bool | None = None,
    authority: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> OrderPage:
    """Orders that need action first: open ones by due date, then closed ones."""
    with rt.unit_of_work(readonly=True) as session:
        return reads.list_orders(
            session,
            authority_id=reads.caller_authority_id(session, caller=caller),
            status=status,
            due_before=due_before,
            overdue=overdue,
            limit=limit,
            offset=offset,
            issuer=authority,
            country=country,
        )


@router.get("/alerts", response_model=list[OrderAlert])
def list_alerts(
    caller: Annotated[Caller, Depends(require(Permission.LEGAL_ALERTS_READ))], rt: Rt
) -> list[OrderAlert]:
    """Orders someone must act on: overdue, second reviews due, emergencies not confirmed,
    validations overdue, orders on hold, call-backs that denied the order."""
    with rt.unit_of_work(readonly=True) as session:
        return reads.alerts(session)


@router.get("/orders/{reference}", response_model=OrderRead)
def get_order(reference: Reference, caller: Reader, rt: Rt) -> OrderRead:
    with rt.unit_of_work() as session:
        return reads.view_order(session, keys=rt.keys, caller=caller, reference=reference)


@router.get("/orders/{reference}/receipt")
def get_receipt(reference: Reference, caller: Reader, rt: Rt) -> dict[str, Any]:
    """Proofs that every audit entry about the order is in the signed log: keep them, and
    check later (`rempart audit` or any RFC 9162 verifier) that the order was counted
    under the head a published transparency report names."""
    with rt.unit_of_work(readonly=True) as session:
        order = reads.own_order(session, caller=caller, reference=reference)
        proofs = audit.prove_target(
            session, keys=rt.keys, target=f"order:{order.reference}", action_prefix="legal."
        )
        return {"order": order.reference, "proofs": [p.model_dump() for p in proofs]}


@router.get("/orders/{reference}/document", response_class=Response)
def get_document(reference: Reference, caller: Reader, rt: Rt) -> Response:
    with rt.unit_of_work() as session:
        order = reads.own_order(session, caller=caller, reference=reference)
        content, media_type = reads.read_document(
            session, keys=rt.keys, order=order, actor=caller.actor
        )
    return Response(content, media_type=media_type)


@router.post("/orders/{reference}/reviews", response_model=OrderRead, status_code=201)
def review_order(reference: Reference, body: ReviewCreate, caller: Reviewer, rt: Rt) -> OrderRead:
    with rt.unit_of_work() as session:
        order = service.review_order(session, reference=reference, caller=caller, data=body)
        return reads.reviewer_view(session, order=order, keys=rt.keys, actor=caller.actor)


@router.post("/orders/{reference}/action-confirmation", response_model=OrderRead)
def confirm_order_to_act(
    reference: Reference, body: ActConfirmation, caller: Reviewer, rt: Rt
) -> OrderRead:
    """A legal reviewer's single confirmation of an order to act (DSA Art. 9), after which
    the worker acts; or its refusal, with reasons the authority reads."""
    with rt.unit_of_work() as session:
        order = reads.get_order(session, reference=reference, authority_id=None)
        acts.confirm(session, order=order, caller=caller, data=body, now=rt.now())
        return reads.reviewer_view(session, order=order, keys=rt.keys, actor=caller.actor)


@router.post("/orders/{reference}/callbacks", response_model=OrderRead, status_code=201)
def record_callback(
    reference: Reference, body: CallbackCreate, caller: Reviewer, rt: Rt
) -> OrderRead:
    """Record a call-back to the authority's registered contact (emergency and risky
    orders wait for a confirming one before release)."""
    with rt.unit_of_work() as session:
        order = reads.get_order(session, reference=reference, authority_id=None)
        callbacks.record(session, order=order, caller=caller, data=body)
        return reads.reviewer_view(session, order=order, keys=rt.keys, actor=caller.actor)


@router.post("/orders/{reference}/withdrawal", response_model=OrderRead)
def withdraw_order(reference: Reference, caller: Submitter, rt: Rt) -> OrderRead:
    with rt.unit_of_work() as session:
        order = reads.own_order(session, caller=caller, reference=reference)
        followups.withdraw(session, order=order, actor=caller.actor)
        return reads.authority_view(session, order=order)


@router.post("/orders/{reference}/extension", response_model=OrderRead)
def extend_preservation(reference: Reference, caller: Submitter, rt: Rt) -> OrderRead:
    with rt.unit_of_work() as session:
        order = reads.own_order(session, caller=caller, reference=reference)
        holds.extend_preservation(session, order=order, actor=caller.actor)
        return reads.authority_view(session, order=order)


@router.post("/orders/{reference}/validation", response_model=OrderRead)
def validate_order(reference: Reference, body: SignedToken, caller: Submitter, rt: Rt) -> OrderRead:
    with rt.unit_of_work() as session:
        order = reads.own_order(session, caller=caller, reference=reference)
        followups.validate_emergency(
            session, order=order, token=body.jws.strip(), actor=caller.actor
        )
        return reads.authority_view(session, order=order)


@router.get("/orders/{reference}/disclosure/preview")
def preview_disclosure(reference: Reference, caller: Releaser, rt: Rt) -> dict[str, Any]:
    """Exactly the package that release would sign and send."""
    return service.preview_disclosure(rt, reference=reference, caller=caller)


@router.post("/orders/{reference}/disclosure", response_model=DisclosureReceipt, status_code=201)
def release_disclosure(reference: Reference, caller: Releaser, rt: Rt) -> DisclosureReceipt:
    released = service.release_disclosure(rt, reference=reference, caller=caller)
    return DisclosureReceipt(
        order_reference=released.order_reference,
        sha256=released.sha256,
        released_at=released.released_at,
    )


@router.get(
    "/orders/{reference}/disclosure",
    response_model=DisclosureDownload,
    responses={200: {"content": {"text/html": {}}}},
)
def download_disclosure(
    reference: Reference,
    caller: Downloader,
    rt: Rt,
    format: Literal["json", "html"] = "json",
) -> DisclosureDownload | HTMLResponse:
    download = service.download_disclosure(rt, reference=reference, caller=caller)
    if format == "html":
        return HTMLResponse(disclosures.render_html(download))
    return download


@router.put("/protected-accounts/{user_id}", response_model=ProtectedAccountRead)
def mark_protected(
    user_id: UserId,
    body: ProtectionCreate,
    caller: Annotated[Caller, Depends(require(Permission.PROTECTED_ACCOUNTS_MARK))],
    rt: Rt,
) -> ProtectedAccountRead:
    with rt.unit_of_work() as session:
        return protection.mark(session, user_id=user_id, category=body.category, actor=caller.actor)


@router.delete("/protected-accounts/{user_id}", status_code=204, response_class=Response)
def unmark_protected(
    user_id: UserId,
    caller: Annotated[Caller, Depends(require(Permission.PROTECTED_ACCOUNTS_MARK))],
    rt: Rt,
) -> Response:
    with rt.unit_of_work() as session:
        protection.unmark(session, user_id=user_id, actor=caller.actor)
    return Response(status_code=204)
