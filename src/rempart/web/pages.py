"""Server-rendered pages: the public's (notices, appeals, the disclosure explainer) and the
console's. Thin handlers over the same service functions as the API; no logic lives here.

Every form carries a CSRF token checked against a cookie of the same value (double submit),
and the console's session cookie is HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import UploadFile as StarletteUpload

from rempart.audit import service as audit_service
from rempart.audit.verify import verify_log
from rempart.auth.models import Principal
from rempart.auth.permissions import Permission, role_has
from rempart.auth.service import Caller
from rempart.core import ratelimit
from rempart.core.clock import as_utc, utcnow
from rempart.core.deps import Runtime, runtime
from rempart.core.errors import RempartError
from rempart.legal import authorities, disclosures, orders, reads, reviews
from rempart.legal.exceptions import OrderRefused
from rempart.legal.schemas import ChecklistItem, RefusalGround, ReviewCreate, ReviewDecision
from rempart.moderation import media, queue
from rempart.moderation.schemas import DecisionAction, DecisionCreate
from rempart.reports import appeals, cases, intake
from rempart.reports.schemas import AppealCreate, ReportCreate
from rempart.web import auth
from rempart.web.i18n import category_labels, language, translator

router = APIRouter(include_in_schema=False)
_env = Environment(
    loader=PackageLoader("rempart.web", "templates"), autoescape=select_autoescape(["html"])
)
SESSION_COOKIE = "rempart_session"
CSRF_COOKIE = "rempart_csrf"
Rt = Annotated[Runtime, Depends(runtime)]
Reference = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]
REVIEWABLE = ("checks_passed", "under_review")
ACTIONS = [
    (DecisionAction.NO_VIOLATION.value, "No violation (restores the item)", "n"),
    (DecisionAction.REMOVE_FROM_SEARCH.value, "Remove from search", "s"),
    (DecisionAction.REMOVE_CONTENT.value, "Remove the content", "r"),
    (DecisionAction.SUSPEND_ENTITY.value, "Suspend the entity", "e"),
    (DecisionAction.SUSPEND_ACCOUNT.value, "Suspend the account", "a"),
]


def _caller(request: Request, rt: Rt) -> Caller | None:
    with rt.unit_of_work() as session:
        return auth.caller_of(session, token=request.cookies.get(SESSION_COOKIE), now=utcnow())


Staff = Annotated[Caller | None, Depends(_caller)]


def page(
    request: Request,
    template: str,
    *,
    caller: Caller | None = None,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    lang = language(request)
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    html = _env.get_template(template).render(
        t=translator(lang),
        lang=lang,
        csrf=csrf,
        caller=caller,
        categories=category_labels(),
        **values,
    )
    response = HTMLResponse(html, status_code=status)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
    if request.query_params.get("lang") in ("en", "fr"):
        response.set_cookie("lang", lang, samesite="lax", max_age=365 * 86400)
    return response


def _csrf_ok(request: Request, token: str) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie) and secrets.compare_digest(cookie or "", token)


def _problem(exc: Exception) -> str:
    if isinstance(exc, RempartError):
        return exc.message
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return "invalid input"


# -- public pages ---------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, caller: Staff) -> HTMLResponse:
    return page(request, "home.html", caller=caller)


@router.get("/disclosure", response_class=HTMLResponse)
def disclosure(request: Request, caller: Staff) -> HTMLResponse:
    return page(request, "disclosure.html", caller=caller)


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request, rt: Rt, caller: Staff) -> HTMLResponse:
    link_base = rt.settings.public_link_base
    return page(request, "report_form.html", caller=caller, form={}, link_base=link_base)


@router.post("/report", response_class=HTMLResponse)
def report_send(
    request: Request,
    rt: Rt,
    csrf: Annotated[str, Form()],
    url: Annotated[str, Form(max_length=2048)],
    category: Annotated[str, Form(max_length=32)],
    explanation: Annotated[str, Form(max_length=5000)],
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    good_faith: Annotated[str, Form(max_length=8)] = "",
) -> HTMLResponse:
    form = {"url": url, "category": category, "explanation": explanation, "name": name}
    if not _csrf_ok(request, csrf):
        return page(request, "forbidden.html", status=403)
    try:
        data = ReportCreate.model_validate(
            {
                "target": {"url": url},
                "category": category,
                "explanation": explanation,
                "reporter": {"name": name, "email": email} if name or email else None,
                "good_faith": good_faith == "yes",
            }
        )
        host = request.client.host if request.client else "unknown"
        with rt.unit_of_work() as session:
            key = intake.network_of(rt.keys, host) or rt.keys.blind_index(host, purpose="web")
            ratelimit.hit(
                session,
                key=key,
                limit=rt.settings.report_rate_limit,
                window_seconds=rt.settings.report_rate_window_seconds,
                now=utcnow(),
            )
        with rt.unit_of_work() as session:
            received = intake.submit(
                session,
                rt.keys,
                rt.settings,
                data=data,
                sender=intake.Sender(caller=None, network=host, channel="web"),
                now=utcnow(),
            )
            tracking = received.tracking_id
    except (RempartError, ValidationError) as exc:
        return page(
            request,
            "report_form.html",
            form=form,
            error=_problem(exc),
            link_base=rt.settings.public_link_base,
            status=422 if isinstance(exc, ValidationError) else getattr(exc, "status_code", 400),
        )
    lang = translator(language(request))
    return page(
        request,
        "receipt.html",
        heading=lang["report_title"],
        tracking=tracking,
        status_url=f"/report/status/{tracking}",
    )


@router.get("/report/status/{tracking}", response_class=HTMLResponse)
def report_status(
    request: Request, rt: Rt, tracking: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,32}$")]
) -> HTMLResponse:
    try:
        with rt.unit_of_work(readonly=True) as session:
            found = intake.status(session, tracking_id=tracking)
            fields = [("category", found.category), ("outcome", found.outcome)]
    except RempartError as exc:
        return page(
            request, "status.html", tracking=tracking, fields=[], error=exc.message, status=404
        )
    return page(request, "status.html", tracking=tracking, fields=fields)


@router.get("/appeal", response_class=HTMLResponse)
def appeal_form(request: Request, caller: Staff) -> HTMLResponse:
    return page(request, "appeal_form.html", caller=caller, form={})


@router.post("/appeal", response_class=HTMLResponse)
def appeal_send(
    request: Request,
    rt: Rt,
    csrf: Annotated[str, Form()],
    secret: Annotated[str, Form(max_length=128)],
    explanation: Annotated[str, Form(max_length=5000)],
) -> HTMLResponse:
    if not _csrf_ok(request, csrf):
        return page(request, "forbidden.html", status=403)
    try:
        data = AppealCreate.model_validate({"secret": secret.strip(), "explanation": explanation})
        with rt.unit_of_work() as session:
            filed = appeals.file(session, rt.settings, data=data, caller=None, now=utcnow())
            tracking = filed.tracking_id
    except (RempartError, ValidationError) as exc:
        return page(
            request,
            "appeal_form.html",
            form={"secret": secret, "explanation": explanation},
            error=_problem(exc),
            status=422 if isinstance(exc, ValidationError) else getattr(exc, "status_code", 400),
        )
    lang = translator(language(request))
    return page(
        request,
        "receipt.html",
        heading=lang["appeal_title"],
        tracking=tracking,
        status_url=f"/appeal/status/{tracking}",
    )


@router.get("/appeal/status/{tracking}", response_class=HTMLResponse)
def appeal_status(
    request: Request, rt: Rt, tracking: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,32}$")]
) -> HTMLResponse:
    try:
        with rt.unit_of_work(readonly=True) as session:
            found = appeals.status(session, tracking_id=tracking)
            fields = [("state", found.state), ("outcome", found.outcome or "—")]
    except RempartError as exc:
        return page(
            request, "status.html", tracking=tracking, fields=[], error=exc.message, status=404
        )
    return page(request, "status.html", tracking=tracking, fields=fields)


# -- sign-in --------------------------------------------------------------------------


@router.get("/console/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html")


@router.post("/console/login", response_class=HTMLResponse)
def login(
    request: Request,
    rt: Rt,
    csrf: Annotated[str, Form()],
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    code: Annotated[str, Form(max_length=8)],
) -> Response:
    if not _csrf_ok(request, csrf):
        return page(request, "forbidden.html", status=403)
    host = request.client.host if request.client else "unknown"
    try:
        with rt.unit_of_work() as session:
            ratelimit.hit(
                session,
                key=rt.keys.blind_index(host, purpose="web.login"),
                limit=LOGIN_ATTEMPTS,
                window_seconds=600,
                now=utcnow(),
            )
        # The failure is counted even though sign-in raises: its own transaction commits.
        with rt.unit_of_work() as session:
            outcome: tuple[str, Caller] | RempartError
            try:
                outcome = auth.sign_in(
                    session,
                    rt.keys,
                    username=username,
                    password=password,
                    code=code.strip(),
                    now=utcnow(),
                )
            except RempartError as exc:
                outcome = exc
        if isinstance(outcome, RempartError):
            raise outcome
    except RempartError as exc:
        return page(request, "login.html", error=exc.message, status=401)
    token, _ = outcome
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict")
    return response


LOGIN_ATTEMPTS = 20


@router.post("/console/logout")
def logout(request: Request, rt: Rt, csrf: Annotated[str, Form()]) -> Response:
    if not _csrf_ok(request, csrf):
        return page(request, "forbidden.html", status=403)
    with rt.unit_of_work() as session:
        auth.sign_out(session, token=request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _require(request: Request, caller: Caller | None, permission: Permission) -> Response | None:
    if caller is None:
        return RedirectResponse("/console/login", status_code=303)
    if not role_has(caller.role, permission):
        return page(request, "forbidden.html", caller=caller, status=403)
    return None


@router.get("/console", response_class=HTMLResponse)
def console(request: Request, caller: Staff) -> Response:
    if caller is None:
        return RedirectResponse("/console/login", status_code=303)
    return page(request, "console.html", caller=caller)


# -- moderators -----------------------------------------------------------------------


@router.get("/console/moderation", response_class=HTMLResponse)
def moderation_queue(request: Request, rt: Rt, caller: Staff) -> Response:
    refused = _require(request, caller, Permission.MODERATION_DECIDE)
    if refused is not None:
        return refused
    filters = {
        name: request.query_params.get(name) or None for name in ("category", "source", "reason")
    }
    where = queue.QueueFilter(
        filters["category"], filters["reason"], filters["source"], viewer=caller
    )
    with rt.unit_of_work(readonly=True) as session:
        found = queue.list_queue(session, where=where, older_than=None, limit=500, offset=0)
    return page(
        request,
        "queue.html",
        caller=caller,
        page=found,
        filters=filters,
        actions=ACTIONS,
        flash=request.query_params.get("done"),
    )


@router.post("/console/moderation/bulk")
async def moderation_bulk(request: Request, rt: Rt, caller: Staff) -> Response:
    refused = _require(request, caller, Permission.MODERATION_DECIDE)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    form = await request.form()
    if not _csrf_ok(request, str(form.get("csrf", ""))):
        return page(request, "forbidden.html", caller=caller, status=403)
    try:
        ids = [int(str(v)) for v in form.getlist("item")][: queue.BULK_LIMIT]
        action = DecisionAction(str(form.get("action")))
        explanation = str(form.get("explanation", "")).strip()
        if not ids or not explanation:
            raise ValueError
    except ValueError:
        return RedirectResponse("/console/moderation?done=nothing+selected", status_code=303)
    with rt.unit_of_work() as session:
        done, skipped = queue.decide_many(
            session,
            caller=caller,
            item_ids=ids,
            action=action,
            category=str(form.get("category", "spam")),
            explanation=explanation[:2000],
            settings=rt.settings,
        )
    return RedirectResponse(
        f"/console/moderation?done={done}+decided,+{len(skipped)}+skipped", status_code=303
    )


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
    refused = _require(request, caller, Permission.MODERATION_DECIDE)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    if not _csrf_ok(request, csrf):
        return page(request, "forbidden.html", caller=caller, status=403)
    try:
        with rt.unit_of_work() as session:
            original = media.reveal(
                session, rt.keys, caller=caller, media_id=media_id, reason=reason
            )
    except RempartError as exc:
        return HTMLResponse(f'<p class="error" role="alert">{escape(exc.message)}</p>', 409)
    encoded = base64.b64encode(original).decode()
    return HTMLResponse(
        f'<img src="data:{media.media_type(original)};base64,{encoded}" '
        f'alt="Image {media_id}, revealed" style="max-width:100%">'
    )


@router.post("/console/moderation/claim")
def moderation_claim(
    request: Request, rt: Rt, caller: Staff, csrf: Annotated[str, Form()]
) -> Response:
    refused = _require(request, caller, Permission.MODERATION_DECIDE)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    if not _csrf_ok(request, csrf):
        return page(request, "forbidden.html", caller=caller, status=403)
    with rt.unit_of_work() as session:
        item = queue.claim_next(session, caller=caller, where=queue.QueueFilter())
    if item is None:
        return RedirectResponse("/console/moderation?done=empty", status_code=303)
    return RedirectResponse(f"/console/moderation/items/{item.id}", status_code=303)


@router.get("/console/moderation/items/{item_id}", response_class=HTMLResponse)
def moderation_item(
    request: Request, rt: Rt, caller: Staff, item_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    refused = _require(request, caller, Permission.MODERATION_DECIDE)
    if refused is not None:
        return refused
    with rt.unit_of_work(readonly=True) as session:
        item = queue.item_view(session, item_id=item_id)
        if item is None:
            return page(request, "forbidden.html", caller=caller, status=404)
        decisions = queue.decisions_of(session, item_id=item_id)
        report_cases = cases.cases_of(session, item_id=item_id)
        standing = cases.entity_standing(session, entity_id=item.entity_id)
    return page(
        request,
        "item.html",
        caller=caller,
        item=item,
        actions=ACTIONS,
        decisions=decisions,
        cases=report_cases,
        standing=standing,
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
    explanation: Annotated[str, Form(max_length=2000)],
) -> Response:
    refused = _require(request, caller, Permission.MODERATION_DECIDE)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    if not _csrf_ok(request, csrf):
        return page(request, "forbidden.html", caller=caller, status=403)
    try:
        data = DecisionCreate.model_validate(
            {"item_id": item_id, "action": action, "category": category, "explanation": explanation}
        )
        with rt.unit_of_work() as session:
            decided = queue.decide(session, caller=caller, data=data, settings=rt.settings)
    except (RempartError, ValidationError) as exc:
        with rt.unit_of_work(readonly=True) as session:
            item = queue.item_view(session, item_id=item_id)
        return page(
            request,
            "item.html",
            caller=caller,
            item=item,
            actions=ACTIONS,
            error=_problem(exc),
            status=getattr(exc, "status_code", 422),
        )
    return RedirectResponse(
        f"/console/moderation?done={decided.action.value}+{decided.state}", status_code=303
    )


# -- legal team -----------------------------------------------------------------------


def _legal(request: Request, caller: Caller | None) -> Response | None:
    return _require(request, caller, Permission.ORDERS_REVIEW)


def _countdown(due: datetime, now: datetime) -> str:
    hours = (due - now).total_seconds() / 3600
    if hours < 0:
        return f"overdue by {-hours:.0f} h"
    return f"due in {hours:.0f} h" if hours < 72 else f"due in {hours / 24:.0f} days"


@router.get("/console/legal/orders", response_class=HTMLResponse)
def legal_orders(request: Request, rt: Rt, caller: Staff) -> Response:
    refused = _legal(request, caller)
    if refused is not None:
        return refused
    with rt.unit_of_work(readonly=True) as session:
        found = reads.list_orders(
            session,
            authority_id=None,
            status=None,
            due_before=None,
            overdue=None,
            limit=200,
            offset=0,
        )
    now = utcnow()
    rows = [(o, _countdown(as_utc(o.due_at), now)) for o in found.items]
    return page(request, "orders.html", caller=caller, rows=rows, base="/console/legal/orders")


def _legal_order_page(
    request: Request, rt: Rt, caller: Caller, reference: str, **extra: Any
) -> Response:
    try:
        with rt.unit_of_work() as session:
            order = reads.view_order(session, keys=rt.keys, caller=caller, reference=reference)
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
        may_review=not reviewed and order.status in REVIEWABLE,
        checklist=list(ChecklistItem),
        grounds=list(RefusalGround),
        releasable=order.status in ("approved", "partially_approved"),
        **extra,
    )


@router.get("/console/legal/orders/{reference}", response_class=HTMLResponse)
def legal_order(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    refused = _legal(request, caller)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    return _legal_order_page(request, rt, caller, reference)


@router.get("/console/legal/orders/{reference}/document")
def legal_document(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    refused = _legal(request, caller)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    with rt.unit_of_work() as session:
        order = reads.get_order(session, reference=reference, authority_id=None)
        content, media_type = reads.read_document(
            session, keys=rt.keys, order=order, actor=caller.actor
        )
    return Response(content, media_type=media_type)


@router.post("/console/legal/orders/{reference}/review")
async def legal_review(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    refused = _legal(request, caller)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    form = await request.form()
    if not _csrf_ok(request, str(form.get("csrf", ""))):
        return page(request, "forbidden.html", caller=caller, status=403)
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
            order = reads.get_order(session, reference=reference, authority_id=None)
            reviews.submit_review(session, order=order, caller=caller, data=data)
    except (RempartError, ValidationError) as exc:
        return _legal_order_page(request, rt, caller, reference, error=_problem(exc))
    return RedirectResponse(f"/console/legal/orders/{reference}", status_code=303)


@router.get("/console/legal/orders/{reference}/disclosure", response_class=HTMLResponse)
def legal_preview(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    refused = _require(request, caller, Permission.DISCLOSURES_RELEASE)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    try:
        with rt.unit_of_work() as session:
            order = reads.get_order(session, reference=reference, authority_id=None)
            package = disclosures.preview(
                session, order=order, keys=rt.keys, settings=rt.settings, actor=caller.actor
            )
    except RempartError as exc:
        return _legal_order_page(request, rt, caller, reference, error=exc.message)
    return page(request, "preview.html", caller=caller, reference=reference, package=package)


@router.post("/console/legal/orders/{reference}/disclosure")
def legal_release(
    request: Request, rt: Rt, caller: Staff, reference: Reference, csrf: Annotated[str, Form()]
) -> Response:
    refused = _require(request, caller, Permission.DISCLOSURES_RELEASE)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    if not _csrf_ok(request, csrf):
        return page(request, "forbidden.html", caller=caller, status=403)
    try:
        with rt.unit_of_work() as session:
            order = reads.get_order(session, reference=reference, authority_id=None)
            disclosures.release(
                session,
                order=order,
                keys=rt.keys,
                settings=rt.settings,
                caller_id=caller.principal_id,
                actor=caller.actor,
            )
    except RempartError as exc:
        return _legal_order_page(request, rt, caller, reference, error=exc.message)
    return RedirectResponse(f"/console/legal/orders/{reference}", status_code=303)


# -- authority portal -----------------------------------------------------------------


def _authority(request: Request, caller: Caller | None) -> Response | None:
    return _require(request, caller, Permission.ORDERS_SUBMIT)


@router.get("/console/portal", response_class=HTMLResponse)
def portal(request: Request, rt: Rt, caller: Staff) -> Response:
    refused = _authority(request, caller)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
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
    now = utcnow()
    rows = [(o, _countdown(as_utc(o.due_at), now)) for o in found.items]
    return page(
        request, "portal.html", caller=caller, rows=rows, base="/console/portal/orders", **extra
    )


@router.post("/console/portal/orders")
async def portal_submit(request: Request, rt: Rt, caller: Staff) -> Response:
    refused = _authority(request, caller)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    form = await request.form()
    if not _csrf_ok(request, str(form.get("csrf", ""))):
        return page(request, "forbidden.html", caller=caller, status=403)
    signed, document = form.get("order"), form.get("document")
    if not isinstance(signed, StarletteUpload) or not isinstance(document, StarletteUpload):
        return _portal_page(request, rt, caller, error="Attach the signed order and its document.")
    token = (await signed.read(64 * 1024 + 1)).decode("ascii", "replace").strip()
    content = await document.read(rt.settings.order_document_max_bytes + 1)
    try:
        with rt.unit_of_work() as session:
            order = orders.receive_order(
                session,
                keys=rt.keys,
                settings=rt.settings,
                caller=caller,
                token=token,
                document=content,
            )
            reference = order.reference
    except RempartError as exc:
        if isinstance(exc, OrderRefused):
            with rt.unit_of_work() as session:
                orders.record_refused_intake(session, actor=caller.actor, error=exc)
        return _portal_page(request, rt, caller, error=exc.message)
    return RedirectResponse(f"/console/portal/orders/{reference}", status_code=303)


@router.get("/console/portal/orders/{reference}", response_class=HTMLResponse)
def portal_order(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    refused = _authority(request, caller)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    try:
        with rt.unit_of_work() as session:
            order = reads.view_order(session, keys=rt.keys, caller=caller, reference=reference)
    except RempartError as exc:
        return page(request, "forbidden.html", caller=caller, error=exc.message, status=404)
    return page(request, "portal_order.html", caller=caller, order=order)


@router.get("/console/portal/orders/{reference}/disclosure", response_class=HTMLResponse)
def portal_download(request: Request, rt: Rt, caller: Staff, reference: Reference) -> Response:
    refused = _require(request, caller, Permission.DISCLOSURES_DOWNLOAD)
    if refused is not None or caller is None:
        return refused or RedirectResponse("/console/login", status_code=303)
    try:
        with rt.unit_of_work() as session:
            order = reads.own_order(session, caller=caller, reference=reference)
            download = disclosures.download(session, order=order, keys=rt.keys, actor=caller.actor)
    except RempartError as exc:
        return page(request, "forbidden.html", caller=caller, error=exc.message, status=404)
    return HTMLResponse(disclosures.render_html(download))


# -- auditors and admins --------------------------------------------------------------


@router.get("/console/audit", response_class=HTMLResponse)
def audit_viewer(request: Request, rt: Rt, caller: Staff) -> Response:
    refused = _require(request, caller, Permission.AUDIT_ENTRIES_READ)
    if refused is not None:
        return refused
    after = request.query_params.get("after", "-1")
    with rt.unit_of_work(readonly=True) as session:
        entries = audit_service.list_entries(
            session, after=int(after) if after.lstrip("-").isdigit() else -1, limit=100
        )
    rows = [(e.seq, json.loads(e.body)) for e in entries.items]
    return page(request, "audit.html", caller=caller, rows=rows, next_after=entries.next_after)


@router.post("/console/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, rt: Rt, caller: Staff, csrf: Annotated[str, Form()]) -> Response:
    """Recompute every leaf and root and check them against every signed head."""
    refused = _require(request, caller, Permission.AUDIT_ENTRIES_READ)
    if refused is not None:
        return refused
    if not _csrf_ok(request, csrf):
        return page(request, "forbidden.html", caller=caller, status=403)
    with rt.unit_of_work(readonly=True) as session:
        result = verify_log(session, head_file=rt.head_file, keys=rt.keys)
    return page(request, "audit.html", caller=caller, rows=[], next_after=None, result=result)


@router.get("/console/admin", response_class=HTMLResponse)
def admin(request: Request, rt: Rt, caller: Staff) -> Response:
    refused = _require(request, caller, Permission.AUTHORITIES_MANAGE)
    if refused is not None:
        return refused
    with rt.unit_of_work(readonly=True) as session:
        principals = session.execute(select(Principal).order_by(Principal.id)).scalars().all()
        registry = authorities.list_authorities(session)
    return page(request, "admin.html", caller=caller, principals=principals, authorities=registry)
