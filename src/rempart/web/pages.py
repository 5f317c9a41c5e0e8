"""Server-rendered pages: the public's (notices, appeals, the disclosure explainer) and the
console's. Thin handlers over the same service functions as the API; no logic lives here.

Every form carries a CSRF token bound to the console session (an HMAC of the session
token, so it changes at each sign-in and a cookie planted by a sibling site cannot carry
it); before sign-in, to a random pre-session cookie. Cookies are HttpOnly and
SameSite=Strict, and ``Secure`` with the ``__Host-`` prefix when the public URL is https.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from rempart.auth import signin as auth
from rempart.auth.permissions import Permission, role_has
from rempart.auth.service import Caller
from rempart.core import ratelimit
from rempart.core.deps import Runtime, runtime
from rempart.core.errors import RempartError
from rempart.reports import appeals, intake
from rempart.reports.schemas import AppealCreate, ReportCreate
from rempart.web.i18n import category_labels, language, translator

router = APIRouter(include_in_schema=False)
_env = Environment(
    loader=PackageLoader("rempart.web", "templates"), autoescape=select_autoescape(["html"])
)
SESSION_COOKIE = "rempart_session"
PRESESSION_COOKIE = "rempart_presession"
Rt = Annotated[Runtime, Depends(runtime)]
Reference = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]


def _https(request: Request) -> bool:
    return runtime(request).settings.public_url.startswith("https://")


def cookie_name(request: Request, name: str) -> str:
    """``__Host-`` cookies can only be set by this exact origin over https, with no Domain:
    a sibling subdomain cannot plant or overwrite them."""
    return f"__Host-{name}" if _https(request) else name


def set_private_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        cookie_name(request, name),
        value,
        httponly=True,
        samesite="strict",
        secure=_https(request),
        path="/",
    )


def session_token(request: Request) -> str | None:
    return request.cookies.get(cookie_name(request, SESSION_COOKIE))


def csrf_token(request: Request) -> str | None:
    """The token every form of this browser must carry: bound to its session once signed
    in, to its pre-session cookie before. None when the browser has neither yet."""
    keys = runtime(request).keys
    signed_in = session_token(request)
    if signed_in:
        return keys.blind_index(signed_in, purpose="web.csrf.session").hex()
    presession = request.cookies.get(cookie_name(request, PRESESSION_COOKIE))
    return keys.blind_index(presession, purpose="web.csrf.presession").hex() if presession else None


def _caller(request: Request, rt: Rt) -> Caller | None:
    with rt.unit_of_work() as session:
        return auth.caller_of(session, token=session_token(request), now=rt.now())


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
    csrf = csrf_token(request)
    presession = None
    if csrf is None:
        presession = secrets.token_urlsafe(24)
        csrf = runtime(request).keys.blind_index(presession, purpose="web.csrf.presession").hex()
    html = _env.get_template(template).render(
        t=translator(lang),
        lang=lang,
        csrf=csrf,
        caller=caller,
        categories=category_labels(),
        **values,
    )
    response = HTMLResponse(html, status_code=status)
    if presession is not None:
        set_private_cookie(response, request, PRESESSION_COOKIE, presession)
    if request.query_params.get("lang") in ("en", "fr"):
        response.set_cookie("lang", lang, samesite="lax", max_age=365 * 86400)
    return response


def wants_page(request: Request) -> bool:
    """A browser on a page of ours, not an API client: it gets errors as pages."""
    path = request.url.path
    return not path.startswith(("/v1/", "/static/")) and "text/html" in request.headers.get(
        "accept", ""
    )


def problem_page(request: Request, message_key: str, *, details: str, status: int) -> Response:
    message = translator(language(request))[message_key]
    return page(request, "problem.html", error=f"{message} {details}".strip(), status=status)


def csrf_ok(request: Request, token: str) -> bool:
    expected = csrf_token(request)
    return expected is not None and secrets.compare_digest(expected, token)


def problem(exc: Exception) -> str:
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
    if not csrf_ok(request, csrf):
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
            # The same budget as the API's anonymous notices: one network, one allowance.
            ratelimit.hit(
                session,
                key=ratelimit.network_key(rt.keys, host, purpose="reports.rate"),
                limit=rt.settings.report_rate_limit,
                window_seconds=rt.settings.report_rate_window_seconds,
                now=rt.now(),
            )
        with rt.unit_of_work() as session:
            received = intake.submit(
                session,
                keys=rt.keys,
                settings=rt.settings,
                data=data,
                sender=intake.Sender(caller=None, network=host, channel="web"),
                now=rt.now(),
            )
            tracking = received.tracking_id
    except (RempartError, ValidationError) as exc:
        return page(
            request,
            "report_form.html",
            form=form,
            error=problem(exc),
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
    if not csrf_ok(request, csrf):
        return page(request, "forbidden.html", status=403)
    try:
        data = AppealCreate.model_validate({"secret": secret.strip(), "explanation": explanation})
        with rt.unit_of_work() as session:
            filed = appeals.file(
                session, settings=rt.settings, data=data, caller=None, now=rt.now()
            )
            tracking = filed.tracking_id
    except (RempartError, ValidationError) as exc:
        return page(
            request,
            "appeal_form.html",
            form={"secret": secret, "explanation": explanation},
            error=problem(exc),
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
    if not csrf_ok(request, csrf):
        return page(request, "forbidden.html", status=403)
    try:
        _count_attempt(request, rt, purpose="web.login")
        checked = auth.check_password(rt.engine, username=username, password=password)
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
                    now=rt.now(),
                    checked=checked,
                )
            except RempartError as exc:
                outcome = exc
        if isinstance(outcome, RempartError):
            raise outcome
    except RempartError as exc:
        return page(request, "login.html", error=exc.message, status=401)
    token, _ = outcome
    response = RedirectResponse("/console", status_code=303)
    set_private_cookie(response, request, SESSION_COOKIE, token)
    return response


LOGIN_ATTEMPTS = 20


def _count_attempt(request: Request, rt: Runtime, *, purpose: str) -> None:
    """One sign-in or enrolment attempt against the client's network's budget, in its own
    transaction (429 beyond it): an attacker's neighbouring addresses share it."""
    host = request.client.host if request.client else "unknown"
    with rt.unit_of_work() as session:
        ratelimit.hit(
            session,
            key=ratelimit.network_key(rt.keys, host, purpose=purpose),
            limit=LOGIN_ATTEMPTS,
            window_seconds=600,
            now=rt.now(),
        )


@router.get("/console/enrol", response_class=HTMLResponse)
def enrol_form(request: Request) -> HTMLResponse:
    return page(request, "enrol.html")


@router.post("/console/enrol", response_class=HTMLResponse)
def enrol(
    request: Request,
    rt: Rt,
    csrf: Annotated[str, Form()],
    code: Annotated[str, Form(max_length=128)],
    username: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[\w.@\-]+$")],
    password: Annotated[str, Form(max_length=256)],
    second_code: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """The person completes their own account with their one-time code: a new login
    (their password, a TOTP secret shown to them alone), or a new second factor after a
    reset (with their existing password)."""
    if not csrf_ok(request, csrf):
        return page(request, "forbidden.html", status=403)
    try:
        _count_attempt(request, rt, purpose="web.enrol")
        code, second = code.strip(), second_code.strip() or None
        # The password is hashed or checked before the write transaction opens.
        attempt = auth.prepare_enrolment(
            rt.engine, code=code, second_code=second, username=username, password=password
        )
        # A reset code is spent even on a wrong password: its own transaction commits.
        with rt.unit_of_work() as session:
            outcome: auth.NewLogin | RempartError
            try:
                outcome = auth.complete_enrolment(
                    session,
                    rt.keys,
                    attempt=attempt,
                    code=code,
                    second_code=second,
                    username=username,
                    password=password,
                    now=rt.now(),
                )
            except RempartError as exc:
                outcome = exc
        if isinstance(outcome, RempartError):
            raise outcome
    except RempartError as exc:
        return page(request, "enrol.html", error=exc.message, status=exc.status_code)
    return page(request, "enrol.html", login=outcome)


@router.post("/console/logout")
def logout(request: Request, rt: Rt, csrf: Annotated[str, Form()]) -> Response:
    if not csrf_ok(request, csrf):
        return page(request, "forbidden.html", status=403)
    with rt.unit_of_work() as session:
        auth.sign_out(session, token=session_token(request))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        cookie_name(request, SESSION_COOKIE), path="/", secure=_https(request), httponly=True
    )
    return response


class PageStop(Exception):
    """Raised by ``allowed``; the app answers with the page it carries (see app.py)."""

    def __init__(self, response: Response) -> None:
        super().__init__("page stopped")
        self.response = response


def allowed(
    request: Request, caller: Caller | None, permission: Permission, csrf: str | None = None
) -> Caller:
    """The signed-in caller, if their role holds ``permission`` (and, for a form, its CSRF
    token is right); otherwise the sign-in page or a 403 page is the answer."""
    if caller is None:
        raise PageStop(RedirectResponse("/console/login", status_code=303))
    if not role_has(caller.role, permission) or (csrf is not None and not csrf_ok(request, csrf)):
        raise PageStop(page(request, "forbidden.html", caller=caller, status=403))
    return caller


@router.get("/console", response_class=HTMLResponse)
def console(request: Request, caller: Staff) -> Response:
    if caller is None:
        return RedirectResponse("/console/login", status_code=303)
    return page(request, "console.html", caller=caller)
