"""The moderators' working tools beside the queue: a subject's timeline, internal notes and
escalations to legal (and the legal team's view of them)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from rempart.auth.permissions import Permission
from rempart.core.errors import RempartError
from rempart.moderation import notes, timeline, wellbeing
from rempart.web.moderation_pages import at, queue_filter, view_query
from rempart.web.pages import Rt, Staff, allowed, page, problem

router = APIRouter(include_in_schema=False)
ItemId = Annotated[int, Path(ge=1, le=2**62)]
# A platform account id as the platform writes it (Matrix: @name:server).
ACCOUNT = re.compile(r"^[A-Za-z0-9._=/+:@-]{1,128}$")


@router.get("/console/moderation/items/{item_id}/timeline", response_class=HTMLResponse)
def item_timeline(request: Request, rt: Rt, caller: Staff, item_id: ItemId) -> Response:
    caller = allowed(request, caller, Permission.MODERATION_DECIDE)
    with rt.unit_of_work(readonly=True) as session:
        found = timeline.of_item(session, item_id=item_id)
    if found is None:
        return page(request, "forbidden.html", caller=caller, status=404)
    return page(request, "timeline.html", caller=caller, timeline=found, item_id=item_id)


@router.get("/console/moderation/accounts/timeline", response_class=HTMLResponse)
def account_timeline(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.MODERATION_DECIDE)
    user = request.query_params.get("user", "")
    if not ACCOUNT.fullmatch(user):
        return page(request, "forbidden.html", caller=caller, status=404)
    with rt.unit_of_work(readonly=True) as session:
        found = timeline.of_account(session, user_id=user)
    return page(request, "timeline.html", caller=caller, timeline=found, item_id=None)


@router.post("/console/moderation/items/{item_id}/notes")
def item_note(
    request: Request,
    rt: Rt,
    caller: Staff,
    item_id: ItemId,
    csrf: Annotated[str, Form()],
    text: Annotated[str, Form(min_length=1, max_length=2000)],
    escalate: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    caller = allowed(request, caller, Permission.MODERATION_DECIDE, csrf)
    try:
        with rt.unit_of_work() as session:
            notes.add(
                session, caller=caller, item_id=item_id, text=text, escalate=escalate == "yes"
            )
    except RempartError as exc:
        return page(
            request, "problem.html", caller=caller, error=exc.message, status=exc.status_code
        )
    done = "escalated" if escalate == "yes" else "noted"
    # Back to the item within the view it was reached from, so "then next" still follows it.
    view = view_query(queue_filter(request.query_params, caller)[0])
    return RedirectResponse(
        at(f"/console/moderation/items/{item_id}", view, f"done={done}"), status_code=303
    )


@router.get("/console/legal/escalations", response_class=HTMLResponse)
def escalations(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.ESCALATIONS_ANSWER)
    with rt.unit_of_work(readonly=True) as session:
        waiting = notes.open_escalations(session)
    return page(
        request,
        "escalations.html",
        caller=caller,
        escalations=waiting,
        flash=request.query_params.get("done") == "closed",
    )


@router.post("/console/legal/escalations/{note_id}/close")
def escalation_close(
    request: Request,
    rt: Rt,
    caller: Staff,
    note_id: Annotated[int, Path(ge=1, le=2**31)],
    csrf: Annotated[str, Form()],
    text: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    caller = allowed(request, caller, Permission.ESCALATIONS_ANSWER, csrf)
    try:
        with rt.unit_of_work() as session:
            notes.close(session, caller=caller, note_id=note_id, text=text)
    except RempartError as exc:
        return page(
            request, "problem.html", caller=caller, error=exc.message, status=exc.status_code
        )
    return RedirectResponse("/console/legal/escalations?done=closed", status_code=303)


@router.get("/console/moderation/settings", response_class=HTMLResponse)
def wellbeing_page(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.MODERATION_DECIDE)
    with rt.unit_of_work(readonly=True) as session:
        mine = wellbeing.of(session, caller=caller)
    return page(
        request,
        "wellbeing.html",
        caller=caller,
        wellbeing=mine,
        flash=request.query_params.get("done") == "saved",
    )


@router.post("/console/moderation/settings")
def wellbeing_save(
    request: Request,
    rt: Rt,
    caller: Staff,
    csrf: Annotated[str, Form()],
    blur_level: Annotated[str, Form(max_length=8)],
    daily_reveal_cap: Annotated[str, Form(max_length=8)],
    greyscale: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    caller = allowed(request, caller, Permission.MODERATION_DECIDE, csrf)
    try:
        data = wellbeing.WellbeingUpdate.model_validate(
            {
                "blur_level": blur_level,
                "greyscale": greyscale == "yes",
                "daily_reveal_cap": daily_reveal_cap,
            }
        )
    except ValidationError as exc:
        with rt.unit_of_work(readonly=True) as session:
            mine = wellbeing.of(session, caller=caller)
        return page(
            request,
            "wellbeing.html",
            caller=caller,
            wellbeing=mine,
            error=problem(exc),
            status=422,
        )
    with rt.unit_of_work() as session:
        wellbeing.update(session, caller=caller, data=data)
    return RedirectResponse("/console/moderation/settings?done=saved", status_code=303)
