"""Console pages for threats to life (DSA Art. 18) and child sexual abuse reports: the
moderator's escalation form, the legal reviewer's confirmation page, the hotline list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from rempart.auth.permissions import Permission, role_has
from rempart.auth.service import Caller
from rempart.core.errors import RempartError
from rempart.escalations import service as escalations
from rempart.escalations.schemas import EscalationCreate, EscalationDecline
from rempart.hotline import service as hotline
from rempart.moderation import queue
from rempart.web.pages import PageStop, Rt, Staff, allowed, page, problem

router = APIRouter(include_in_schema=False)
Reference = Annotated[str, Path(pattern=r"^A18-\d{4}-\d{6,}$", max_length=32)]
ItemId = Annotated[int, Query(ge=1, le=2**62)]


def _either(request: Request, caller: Caller | None, *permissions: Permission) -> Caller:
    """The signed-in caller if their role holds one of ``permissions``."""
    for permission in permissions[1:]:
        if caller is not None and role_has(caller.role, permission):
            return caller
    return allowed(request, caller, permissions[0])


@router.get("/console/escalations", response_class=HTMLResponse)
def escalation_list(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = _either(request, caller, Permission.ESCALATIONS_CREATE, Permission.ESCALATIONS_CONFIRM)
    with rt.unit_of_work(readonly=True) as session:
        found = escalations.list_escalations(session, state=None, limit=200, offset=0)
    return page(request, "safety_escalations.html", caller=caller, escalations=found.items)


@router.get("/console/escalations/new", response_class=HTMLResponse)
def escalation_form(request: Request, rt: Rt, caller: Staff, item_id: ItemId) -> Response:
    caller = allowed(request, caller, Permission.ESCALATIONS_CREATE)
    with rt.unit_of_work(readonly=True) as session:
        item = queue.item_view(session, item_id=item_id)
    if item is None:
        return page(request, "forbidden.html", caller=caller, status=404)
    return page(request, "escalation_form.html", caller=caller, item=item)


@router.post("/console/escalations")
def escalation_create(
    request: Request,
    rt: Rt,
    caller: Staff,
    csrf: Annotated[str, Form()],
    item_id: Annotated[int, Form(ge=1, le=2**62)],
    explanation: Annotated[str, Form(max_length=4000)],
    victim_country: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    caller = allowed(request, caller, Permission.ESCALATIONS_CREATE, csrf)
    try:
        data = EscalationCreate(
            item_id=item_id, explanation=explanation, victim_country=victim_country or None
        )
        with rt.unit_of_work() as session:
            created = escalations.escalate(
                session, keys=rt.keys, settings=rt.settings, caller=caller, data=data
            )
    except (RempartError, ValidationError) as exc:
        with rt.unit_of_work(readonly=True) as session:
            item = queue.item_view(session, item_id=item_id)
        return page(
            request,
            "escalation_form.html",
            caller=caller,
            item=item,
            error=problem(exc),
            status=getattr(exc, "status_code", 422),
        )
    return RedirectResponse(f"/console/escalations/{created.reference}", status_code=303)


@router.get("/console/escalations/{reference}", response_class=HTMLResponse)
def escalation_page(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    """A moderator sees the escalation; a legal reviewer also reads the prepared
    notification, personal data included, and that reading is audited."""
    caller = _either(request, caller, Permission.ESCALATIONS_CREATE, Permission.ESCALATIONS_CONFIRM)
    reviewer = role_has(caller.role, Permission.ESCALATIONS_CONFIRM)
    try:
        with rt.unit_of_work() as session:
            escalation = escalations.get(session, reference=reference)
            prepared = (
                escalations.read_notification(
                    session, keys=rt.keys, caller=caller, reference=reference
                )
                if reviewer
                else None
            )
    except RempartError as exc:
        raise PageStop(
            page(request, "problem.html", caller=caller, error=exc.message, status=exc.status_code)
        ) from exc
    return page(
        request,
        "escalation.html",
        caller=caller,
        escalation=escalation,
        prepared=prepared,
        reviewer=reviewer,
    )


def _decided(request: Request, rt: Rt, caller: Caller, reference: str, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 422)
    with rt.unit_of_work(readonly=True) as session:
        escalation = escalations.get(session, reference=reference)
    return page(
        request,
        "escalation.html",
        caller=caller,
        escalation=escalation,
        prepared=None,
        reviewer=True,
        error=problem(exc),
        status=status,
    )


@router.post("/console/escalations/{reference}/confirm")
def escalation_confirm(
    request: Request, rt: Rt, caller: Staff, reference: Reference, csrf: Annotated[str, Form()]
) -> Response:
    caller = allowed(request, caller, Permission.ESCALATIONS_CONFIRM, csrf)
    try:
        with rt.unit_of_work() as session:
            escalations.confirm(session, caller=caller, reference=reference)
    except RempartError as exc:
        return _decided(request, rt, caller, reference, exc)
    return RedirectResponse(f"/console/escalations/{reference}", status_code=303)


@router.post("/console/escalations/{reference}/decline")
def escalation_decline(
    request: Request,
    rt: Rt,
    caller: Staff,
    reference: Reference,
    csrf: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    caller = allowed(request, caller, Permission.ESCALATIONS_CONFIRM, csrf)
    try:
        body = EscalationDecline(reason=reason)
        with rt.unit_of_work() as session:
            escalations.decline(session, caller=caller, reference=reference, reason=body.reason)
    except (RempartError, ValidationError) as exc:
        return _decided(request, rt, caller, reference, exc)
    return RedirectResponse(f"/console/escalations/{reference}", status_code=303)


@router.get("/console/hotline", response_class=HTMLResponse)
def hotline_reports(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.HOTLINE_REPORTS_READ)
    with rt.unit_of_work(readonly=True) as session:
        found = hotline.list_reports(session, limit=200, offset=0)
    return page(request, "hotline.html", caller=caller, reports=found.items, total=found.total)
