"""The legal console's orders to act (DSA Art. 9) and TCO removal orders: a list with each
order's deadline counting down and its outcome, and the single confirmation an order to
act needs. The order's own page and the authority's portal show what was done."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from rempart.auth.permissions import Permission
from rempart.core.clock import as_utc
from rempart.core.errors import RempartError
from rempart.legal import acts, reads
from rempart.legal.act_schemas import ActConfirmation
from rempart.legal.schemas import OPEN_STATUSES, ORDER_TYPES_TO_ACT, OrderSummary
from rempart.web.legal_pages import legal_order_page
from rempart.web.pages import Reference, Rt, Staff, allowed, page, problem

router = APIRouter(include_in_schema=False)


def countdown(order: OrderSummary, now: datetime) -> str:
    """Minutes count when the law gives one hour; a closed order has nothing left to miss."""
    if order.status not in OPEN_STATUSES:
        return ""
    minutes = (as_utc(order.due_at) - now).total_seconds() / 60
    if minutes < 0:
        late = -minutes
        return f"overdue by {late:.0f} min" if late < 120 else f"overdue by {late / 60:.0f} h"
    if minutes < 120:
        return f"due in {minutes:.0f} min"
    return (
        f"due in {minutes / 60:.0f} h" if minutes < 72 * 60 else f"due in {minutes / 1440:.0f} days"
    )


@router.get("/console/legal/orders-to-act", response_class=HTMLResponse)
def orders_to_act(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.ORDERS_REVIEW)
    with rt.unit_of_work(readonly=True) as session:
        found = reads.list_orders(
            session,
            authority_id=None,
            status=None,
            due_before=None,
            overdue=None,
            limit=200,
            offset=0,
            order_types=[t.value for t in ORDER_TYPES_TO_ACT],
        )
    now = rt.now()
    return page(
        request,
        "orders_to_act.html",
        caller=caller,
        rows=[(o, countdown(o, now)) for o in found.items],
        total=found.total,
    )


@router.post("/console/legal/orders/{reference}/action-confirmation")
async def confirm_order_to_act(
    request: Request, rt: Rt, caller: Staff, reference: Reference
) -> Response:
    form = await request.form()
    caller = allowed(request, caller, Permission.ORDERS_REVIEW, str(form.get("csrf", "")))
    try:
        data = ActConfirmation.model_validate(
            {"decision": form.get("decision"), "reasons": form.get("reasons")}
        )
        with rt.unit_of_work() as session:
            order = reads.get_order(session, reference=reference, authority_id=None)
            acts.confirm(session, order=order, caller=caller, data=data, now=rt.now())
    except (RempartError, ValidationError) as exc:
        return legal_order_page(request, rt, caller, reference, error=problem(exc))
    return RedirectResponse(f"/console/legal/orders/{reference}", status_code=303)
