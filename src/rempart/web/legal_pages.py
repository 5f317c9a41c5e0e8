"""The legal team's pages and the authorities' portal."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile as StarletteUpload

from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core.clock import as_utc
from rempart.core.deps import Runtime
from rempart.core.errors import RempartError
from rempart.legal import callbacks, disclosures, reads, reviews, service
from rempart.legal.schemas import (
    OPEN_STATUSES,
    CallbackCreate,
    CallbackOutcome,
    ChecklistItem,
    OrderStatus,
    OrderSummary,
    RefusalGround,
    ReviewCreate,
    ReviewDecision,
)
from rempart.web.check_words import check_detail
from rempart.web.i18n import language, translator
from rempart.web.pages import (
    Reference,
    Rt,
    Staff,
    allowed,
    page,
    problem,
)

router = APIRouter(include_in_schema=False)
REVIEWABLE = ("checks_passed", "under_review")


# -- legal team -----------------------------------------------------------------------


def _countdown(order: OrderSummary, now: datetime, words: dict[str, str]) -> str:
    """Time left on an open order, in the reader's language; a closed one has no deadline
    left to miss."""
    if order.status not in OPEN_STATUSES:
        return ""
    hours = (as_utc(order.due_at) - now).total_seconds() / 3600
    if hours < 0:
        return words["countdown_overdue"].format(hours=f"{-hours:.0f}")
    if hours < 72:
        return words["countdown_due_hours"].format(hours=f"{hours:.0f}")
    return words["countdown_due_days"].format(days=f"{hours / 24:.0f}")


def _filter(request: Request, name: str, pattern: str) -> str | None:
    """A list filter from the query string; one that cannot match is ignored."""
    value = request.query_params.get(name, "").strip()
    return value if re.fullmatch(pattern, value) else None


@router.get("/console/legal/orders", response_class=HTMLResponse)
def legal_orders(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.ORDERS_REVIEW)
    status = _filter(request, "status", "|".join(s.value for s in OrderStatus))
    issuer = _filter(request, "authority", r"[a-z0-9][a-z0-9._-]{1,63}")
    country = _filter(request, "country", r"[A-Za-z]{2}")
    with rt.unit_of_work(readonly=True) as session:
        found = reads.list_orders(
            session,
            authority_id=None,
            status=OrderStatus(status) if status else None,
            due_before=None,
            overdue=None,
            limit=200,
            offset=0,
            issuer=issuer,
            country=country,
        )
        alerts = reads.alerts(session)
        issuers = reads.issuer_codes(session)
    now = rt.now()
    return page(
        request,
        "orders.html",
        caller=caller,
        rows=[(o, _countdown(o, now, translator(language(request)))) for o in found.items],
        total=found.total,
        alerts=alerts,
        statuses=list(OrderStatus),
        issuers=issuers,
        chosen={"status": status, "authority": issuer, "country": country},
        base="/console/legal/orders",
    )


def legal_order_page(
    request: Request, rt: Rt, caller: Caller, reference: str, **extra: Any
) -> Response:
    try:
        with rt.unit_of_work() as session:
            order = reads.view_order(session, keys=rt.keys, caller=caller, reference=reference)
            second_review = reviews.awaits_second_review(
                reads.get_order(session, reference=reference, authority_id=None)
            )
    except RempartError as exc:
        return page(request, "forbidden.html", caller=caller, error=exc.message, status=404)
    approvals = sum(1 for r in order.reviews if r.decision is ReviewDecision.APPROVE)
    reviewed = any(r.reviewer == caller.name for r in order.reviews)
    return page(
        request,
        "order.html",
        caller=caller,
        order=order,
        approvals=approvals,
        needed=1 if order.emergency else 2,
        # Orders to act disclose nothing: a single confirmation, not the four-eyes review.
        may_review=order.act is None
        and not reviewed
        and (order.status in REVIEWABLE or second_review),
        may_confirm=order.act is not None
        and order.order_type.value == "act"
        and order.status.value == "checks_passed"
        and order.act.confirmed_at is None,
        checklist=list(ChecklistItem),
        grounds=list(RefusalGround),
        callback_outcomes=list(CallbackOutcome),
        releasable=order.status in ("approved", "partially_approved"),
        check_detail=lambda detail: check_detail(detail, translator(language(request))),
        **extra,
    )


@router.get("/console/legal/orders/{reference}", response_class=HTMLResponse)
def legal_order(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    caller = allowed(request, caller, Permission.ORDERS_REVIEW)
    return legal_order_page(request, rt, caller, reference)


@router.get("/console/legal/orders/{reference}/document")
def legal_document(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    caller = allowed(request, caller, Permission.ORDERS_REVIEW)
    with rt.unit_of_work() as session:
        order = reads.get_order(session, reference=reference, authority_id=None)
        content, media_type = reads.read_document(
            session, keys=rt.keys, order=order, actor=caller.actor
        )
    return Response(content, media_type=media_type)


@router.post("/console/legal/orders/{reference}/review")
async def legal_review(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    form = await request.form()
    caller = allowed(request, caller, Permission.ORDERS_REVIEW, str(form.get("csrf", "")))
    try:
        data = ReviewCreate.model_validate(
            {
                "decision": form.get("decision"),
                "checklist": {
                    item.value: form.get(f"check_{item.value}") for item in ChecklistItem
                },
                "reasons": form.get("reasons"),
                "refusal_grounds": form.getlist("grounds"),
            }
        )
        with rt.unit_of_work() as session:
            service.review_order(session, reference=reference, caller=caller, data=data)
    except (RempartError, ValidationError) as exc:
        return legal_order_page(request, rt, caller, reference, error=problem(exc))
    return RedirectResponse(f"/console/legal/orders/{reference}", status_code=303)


@router.post("/console/legal/orders/{reference}/callback")
async def legal_callback(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    form = await request.form()
    caller = allowed(request, caller, Permission.ORDERS_REVIEW, str(form.get("csrf", "")))
    called_at = str(form.get("called_at", ""))
    try:
        data = CallbackCreate.model_validate(
            {
                # The browser's datetime-local has no zone: the form says UTC.
                "called_at": called_at + "Z" if called_at and "+" not in called_at else called_at,
                "person_reached": form.get("person_reached"),
                "outcome": form.get("outcome"),
                "notes": form.get("notes") or "",
            }
        )
        with rt.unit_of_work() as session:
            order = reads.get_order(session, reference=reference, authority_id=None)
            callbacks.record(session, order=order, caller=caller, data=data)
    except (RempartError, ValidationError) as exc:
        return legal_order_page(request, rt, caller, reference, error=problem(exc))
    return RedirectResponse(f"/console/legal/orders/{reference}", status_code=303)


def _preview_page(
    request: Request, rt: Runtime, caller: Caller, reference: str, **extra: Any
) -> Response:
    try:
        package = service.preview_disclosure(rt, reference=reference, caller=caller)
    except RempartError as exc:
        return legal_order_page(request, rt, caller, reference, error=exc.message)
    return page(
        request, "preview.html", caller=caller, reference=reference, package=package, **extra
    )


@router.get("/console/legal/orders/{reference}/disclosure", response_class=HTMLResponse)
def legal_preview(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    caller = allowed(request, caller, Permission.DISCLOSURES_RELEASE)
    return _preview_page(request, rt, caller, reference)


@router.post("/console/legal/orders/{reference}/disclosure")
def legal_release(
    request: Request,
    rt: Rt,
    caller: Staff,
    reference: Reference,
    csrf: Annotated[str, Form()],
    confirm: Annotated[str, Form()] = "",
) -> Response:
    caller = allowed(request, caller, Permission.DISCLOSURES_RELEASE, csrf)
    if confirm != "yes":
        # Release cannot be taken back: the reviewer ticks that they read the package.
        error = translator(language(request))["release_unconfirmed"]
        return _preview_page(request, rt, caller, reference, error=error, status=400)
    try:
        service.release_disclosure(rt, reference=reference, caller=caller)
    except RempartError as exc:
        return legal_order_page(request, rt, caller, reference, error=exc.message)
    return RedirectResponse(f"/console/legal/orders/{reference}", status_code=303)


# -- authority portal -----------------------------------------------------------------


@router.get("/console/portal", response_class=HTMLResponse)
def portal(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.ORDERS_SUBMIT)
    return _portal_page(request, rt, caller)


def _portal_page(request: Request, rt: Runtime, caller: Caller, **extra: Any) -> Response:
    with rt.unit_of_work(readonly=True) as session:
        found = reads.list_orders(
            session,
            authority_id=reads.caller_authority_id(session, caller=caller),
            status=None,
            due_before=None,
            overdue=None,
            limit=200,
            offset=0,
        )
    now = rt.now()
    rows = [(o, _countdown(o, now, translator(language(request)))) for o in found.items]
    return page(
        request, "portal.html", caller=caller, rows=rows, base="/console/portal/orders", **extra
    )


@router.post("/console/portal/orders")
async def portal_submit(request: Request, rt: Rt, caller: Staff) -> Response:
    form = await request.form()
    caller = allowed(request, caller, Permission.ORDERS_SUBMIT, str(form.get("csrf", "")))
    signed, document = form.get("order"), form.get("document")
    if not isinstance(signed, StarletteUpload) or not isinstance(document, StarletteUpload):
        return _portal_page(request, rt, caller, error="Attach the signed order and its document.")
    token = (await signed.read(64 * 1024 + 1)).decode("ascii", "replace").strip()
    content = await document.read(rt.settings.order_document_max_bytes + 1)
    try:
        reference = service.submit_order(rt, caller=caller, token=token, document=content).reference
    except RempartError as exc:
        return _portal_page(request, rt, caller, error=exc.message)
    return RedirectResponse(f"/console/portal/orders/{reference}", status_code=303)


@router.get("/console/portal/orders/{reference}", response_class=HTMLResponse)
def portal_order(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    caller = allowed(request, caller, Permission.ORDERS_SUBMIT)
    try:
        with rt.unit_of_work() as session:
            order = reads.view_order(session, keys=rt.keys, caller=caller, reference=reference)
    except RempartError as exc:
        return page(request, "forbidden.html", caller=caller, error=exc.message, status=404)
    return page(request, "portal_order.html", caller=caller, order=order)


@router.get("/console/portal/orders/{reference}/disclosure", response_class=HTMLResponse)
def portal_download(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    caller = allowed(request, caller, Permission.DISCLOSURES_DOWNLOAD)
    try:
        download = service.download_disclosure(rt, reference=reference, caller=caller)
    except RempartError as exc:
        return page(request, "forbidden.html", caller=caller, error=exc.message, status=404)
    json_url = f"/console/portal/orders/{reference}/disclosure.json"
    return HTMLResponse(disclosures.render_html(download, json_url=json_url))


@router.get("/console/portal/orders/{reference}/disclosure.json")
def portal_download_json(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    caller = allowed(request, caller, Permission.DISCLOSURES_DOWNLOAD)
    try:
        download = service.download_disclosure(rt, reference=reference, caller=caller)
    except RempartError as exc:
        return page(request, "forbidden.html", caller=caller, error=exc.message, status=404)
    attachment = f'attachment; filename="disclosure-{reference}.json"'
    return JSONResponse(
        download.model_dump(mode="json"),
        headers={"Content-Disposition": attachment},
    )
