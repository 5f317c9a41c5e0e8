"""The moderators' console: the queue, items, decisions, bulk decisions, reveals."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import timedelta
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core.clock import as_utc
from rempart.core.errors import RempartError
from rempart.moderation import evidence, media, notes, presets, queue, timeline, wellbeing
from rempart.moderation.schemas import DecisionAction, DecisionCreate
from rempart.platform import actions as platform_actions
from rempart.reports import cases
from rempart.web.i18n import category_labels, language, translator
from rempart.web.pages import (
    Rt,
    Staff,
    allowed,
    page,
    problem,
)

router = APIRouter(include_in_schema=False)
ACTIONS = [
    (DecisionAction.NO_VIOLATION.value, "n"),
    (DecisionAction.REMOVE_FROM_SEARCH.value, "s"),
    (DecisionAction.REMOVE_CONTENT.value, "r"),
    (DecisionAction.SUSPEND_ENTITY.value, "e"),
    (DecisionAction.SUSPEND_ACCOUNT.value, "a"),
]


# -- moderators -----------------------------------------------------------------------


QUEUE_PAGE = 100
FILTERS = ("category", "source", "reason")


def queue_filter(values: Mapping[str, Any], caller: Caller) -> tuple[dict[str, Any], Any]:
    """The queue's filters from a query string or a form: the list and "claim next" read
    the same ones, so the next item claimed is one the moderator is looking at."""
    filters: dict[str, Any] = {name: str(values.get(name) or "")[:32] or None for name in FILTERS}
    where = queue.QueueFilter(
        filters["category"], filters["reason"], filters["source"], viewer=caller
    )
    return filters, where


def at(path: str, *queries: str) -> str:
    query = "&".join(q for q in queries if q)
    return f"{path}?{query}" if query else path


def view_query(filters: Mapping[str, Any]) -> str:
    """The saved view or filters an item was reached from, to carry to the next one."""
    kept = {name: filters[name] for name in FILTERS if filters.get(name)}
    return urlencode(kept)


@router.get("/console/moderation", response_class=HTMLResponse)
def moderation_queue(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.MODERATION_DECIDE)
    filters, where = queue_filter(request.query_params, caller)
    age = request.query_params.get("older_than_hours", "")
    filters["older_than_hours"] = age if age.isdigit() and len(age) < 6 else None
    older_than = timedelta(hours=int(age)) if filters["older_than_hours"] else None
    number = request.query_params.get("page", "1")
    current = int(number) if number.isdigit() and 0 < len(number) < 6 and int(number) else 1
    order = request.query_params.get("order", "")
    filters["order"] = order if order in ("oldest", "reach") else None
    with rt.unit_of_work(readonly=True) as session:
        found = queue.list_queue(
            session,
            where=where,
            older_than=older_than,
            limit=QUEUE_PAGE,
            offset=(current - 1) * QUEUE_PAGE,
            order=filters["order"] or "priority",
        )
        views = queue.view_counts(session, viewer=caller)
    kept = {k: v for k, v in filters.items() if v}
    return page(
        request,
        "queue.html",
        caller=caller,
        page=found,
        filters=filters,
        actions=ACTIONS,
        flash=request.query_params.get("done"),
        current=current,
        pages=max(1, -(-found.total // QUEUE_PAGE)),
        link=lambda n: "/console/moderation?" + urlencode({**kept, "page": n}),
        views=views,
        presets=presets.by_group(),
        view_query=view_query(filters),
        empty=bool(request.query_params.get("empty")),
        waiting={
            i.id: int((rt.now() - as_utc(i.queued_at)).total_seconds() // 3600)
            for i in found.items
            if i.queued_at is not None
        },
    )


@router.post("/console/moderation/bulk")
async def moderation_bulk(request: Request, rt: Rt, caller: Staff) -> Response:
    form = await request.form()
    caller = allowed(request, caller, Permission.MODERATION_DECIDE, str(form.get("csrf", "")))
    try:
        ids = [int(str(v)) for v in form.getlist("item")][: queue.BULK_LIMIT]
        action = DecisionAction(str(form.get("action")))
        category = str(form.get("category", ""))
        preset = str(form.get("preset", "")) or None
        explanation = _explanation(request, str(form.get("explanation", "")), preset)
        if not ids or not explanation:
            raise ValueError
    except ValueError:
        return RedirectResponse("/console/moderation?done=nothing+selected", status_code=303)
    if category not in category_labels():
        # No silent default: the owner and the reporters are told this category.
        return RedirectResponse("/console/moderation?done=no+category+chosen", status_code=303)
    with rt.unit_of_work() as session:
        done, skipped = queue.decide_many(
            session,
            caller=caller,
            item_ids=ids,
            action=action,
            category=category,
            explanation=explanation[:2000],
            settings=rt.settings,
            actions=rt.port(platform_actions.PORT),
            preset=preset,
        )
    return RedirectResponse(
        f"/console/moderation?done={done}+decided,+{len(skipped)}+skipped", status_code=303
    )


def _explanation(request: Request, written: str, preset: str | None) -> str:
    """What the moderator wrote; left empty with a preset chosen (a browser without
    script), the preset's text in the console's language."""
    written = written.strip()
    if written or preset is None:
        return written
    chosen = presets.all_presets().get(preset)
    return chosen.texts[language(request)] if chosen else ""


@router.get("/console/moderation/media/{media_id}/preview")
def moderation_preview(
    request: Request, rt: Rt, caller: Staff, media_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    """The blurred grey preview for the console's session (the API's needs a token)."""
    caller = allowed(request, caller, Permission.MODERATION_DECIDE)
    try:
        with rt.unit_of_work(readonly=True) as session:
            png = media.preview(session, media_id=media_id)
    except RempartError as exc:
        return HTMLResponse(escape(exc.message), exc.status_code)
    return Response(png, media_type="image/png")


@router.post("/console/moderation/media/{media_id}/reveal", response_class=HTMLResponse)
def moderation_reveal(
    request: Request,
    rt: Rt,
    caller: Staff,
    media_id: Annotated[int, Path(ge=1, le=2**62)],
    csrf: Annotated[str, Form()],
    reason: Annotated[str, Form(min_length=10, max_length=500)],
) -> Response:
    """The original image, inline, for the moderator who asked; audited with the reason."""
    caller = allowed(request, caller, Permission.MODERATION_DECIDE, csrf)
    try:
        with rt.unit_of_work() as session:
            original = media.reveal(
                session, keys=rt.keys, caller=caller, media_id=media_id, reason=reason
            )
            # This reveal is recorded when the transaction commits: counted by hand.
            mine = wellbeing.of(session, caller=caller, extra_reveals=1)
    except RempartError as exc:
        return HTMLResponse(f'<p class="error" role="alert">{escape(exc.message)}</p>', 409)
    encoded = base64.b64encode(original).decode()
    words = translator(language(request))
    counter = (
        f'<p id="exposure-after" class="{"error" if mine.over_cap else "muted"}" role="status">'
        f"{escape(words['revealed_today'])} {mine.revealed_today}"
        + (f" / {mine.daily_reveal_cap}" if mine.daily_reveal_cap else "")
        + (f" · {escape(words['exposure_cap_reached'])}" if mine.over_cap else "")
        + "</p>"
    )
    grey = ' class="grey"' if mine.greyscale else ""
    return HTMLResponse(
        f'<img src="data:{media.media_type(original)};base64,{encoded}" '
        f'alt="Image {media_id}, revealed" style="max-width:100%"{grey}>{counter}'
    )


@router.post("/console/moderation/claim")
async def moderation_claim(request: Request, rt: Rt, caller: Staff) -> Response:
    form = await request.form()
    caller = allowed(request, caller, Permission.MODERATION_DECIDE, str(form.get("csrf", "")))
    _, where = queue_filter(form, caller)
    with rt.unit_of_work() as session:
        item = queue.claim_next(session, caller=caller, where=where)
    view = view_query(queue_filter(form, caller)[0])
    if item is None:
        return RedirectResponse(at("/console/moderation", view, "done=empty"), status_code=303)
    return RedirectResponse(at(f"/console/moderation/items/{item.id}", view), status_code=303)


@router.get("/console/moderation/items/{item_id}", response_class=HTMLResponse)
def moderation_item(
    request: Request, rt: Rt, caller: Staff, item_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    caller = allowed(request, caller, Permission.MODERATION_DECIDE)
    view, _ = queue_filter(request.query_params, caller)
    with rt.unit_of_work(readonly=True) as session:
        item = queue.item_view(session, item_id=item_id)
        if item is None:
            return page(request, "forbidden.html", caller=caller, status=404)
        decisions = queue.decisions_of(session, item_id=item_id)
        report_cases = cases.cases_of(session, item_id=item_id)
        standing = cases.entity_standing(session, entity_id=item.entity_id)
        on_platform = platform_actions.of_item(session, item_id=item_id)
        found = evidence.of_item(session, item_id=item_id)
        owner = timeline.owner_of(session, item_id=item_id)
        item_notes = notes.of_item(session, item_id=item_id)
        mine = wellbeing.of(session, caller=caller)
    return page(
        request,
        "item.html",
        caller=caller,
        item=item,
        evidence=found,
        actions=ACTIONS,
        decisions=decisions,
        cases=report_cases,
        standing=standing,
        on_platform=on_platform,
        owner=owner,
        notes=item_notes,
        wellbeing=mine,
        presets=presets.by_group(),
        flash=request.query_params.get("done"),
        view=view,
        view_query=view_query(view),
    )


@router.post("/console/moderation/items/{item_id}/decide")
def moderation_decide(
    request: Request,
    rt: Rt,
    caller: Staff,
    item_id: Annotated[int, Path(ge=1, le=2**62)],
    csrf: Annotated[str, Form()],
    action: Annotated[str, Form(max_length=32)],
    category: Annotated[str, Form(max_length=32)],
    explanation: Annotated[str, Form(max_length=2000)] = "",
    preset: Annotated[str, Form(max_length=48)] = "",
    reports_unfounded: Annotated[str, Form(max_length=8)] = "",
    manifestly_illegal: Annotated[str, Form(max_length=8)] = "",
    version: Annotated[int | None, Form(ge=0, le=2**62)] = None,
    view_category: Annotated[str, Form(max_length=32)] = "",
    view_reason: Annotated[str, Form(max_length=32)] = "",
    view_source: Annotated[str, Form(max_length=32)] = "",
    then_next: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    caller = allowed(request, caller, Permission.MODERATION_DECIDE, csrf)
    view, where = queue_filter(
        {"category": view_category, "reason": view_reason, "source": view_source}, caller
    )
    try:
        data = DecisionCreate.model_validate(
            {
                "item_id": item_id,
                "action": action,
                "category": category,
                "explanation": _explanation(request, explanation, preset or None),
                "preset": preset or None,
                "reports_unfounded": reports_unfounded == "yes",
                "manifestly_illegal": manifestly_illegal == "yes",
                "version": version,
            }
        )
        decided = queue.decide_recorded(rt, caller=caller, data=data)
    except (RempartError, ValidationError) as exc:
        with rt.unit_of_work(readonly=True) as session:
            item = queue.item_view(session, item_id=item_id)
        return page(
            request,
            "item.html",
            caller=caller,
            item=item,
            actions=ACTIONS,
            presets=presets.by_group(),
            view=view,
            view_query=view_query(view),
            error=problem(exc),
            status=getattr(exc, "status_code", 422),
        )
    done = urlencode({"done": f"{decided.action.value} {decided.state}"})
    if then_next == "yes":
        # The next item of the same view, held for this moderator, as "claim next" would.
        with rt.unit_of_work() as session:
            following = queue.claim_next(session, caller=caller, where=where)
        if following is not None:
            return RedirectResponse(
                at(f"/console/moderation/items/{following.id}", view_query(view), done),
                status_code=303,
            )
        done += "&empty=1"
    return RedirectResponse(at("/console/moderation", view_query(view), done), status_code=303)
