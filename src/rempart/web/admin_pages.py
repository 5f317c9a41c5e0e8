"""Auditors' and admins' pages: the audit log and its verification, the registry,
enrolments, two-admin proposals, tokens and console logins."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from rempart.audit import service as audit_service
from rempart.audit.verify import verify_log
from rempart.auth import enrolment, grants, signin
from rempart.auth import service as auth_service
from rempart.auth.models import Principal
from rempart.auth.permissions import Permission, Role
from rempart.auth.schemas import AuthorityVerificationProposal, ProposalKind, RoleGrantProposal
from rempart.auth.service import Caller
from rempart.core.deps import Runtime
from rempart.core.errors import RempartError
from rempart.legal import authorities
from rempart.legal.schemas import AuthorityStatus
from rempart.web.i18n import language, translator
from rempart.web.pages import (
    Rt,
    Staff,
    allowed,
    page,
)

router = APIRouter(include_in_schema=False)


# -- auditors and admins --------------------------------------------------------------


def _audit_page(request: Request, rt: Runtime, caller: Caller, **extra: Any) -> HTMLResponse:
    params = request.query_params
    before = params.get("before", "")
    filters = {
        "action": params.get("action", "").strip()[:64] or None,
        "target": params.get("target", "").strip()[:256] or None,
    }
    with rt.unit_of_work(readonly=True) as session:
        entries, older = audit_service.browse_entries(
            session,
            before=int(before) if before.isdigit() and len(before) < 19 else None,
            action_prefix=filters["action"],
            target=filters["target"],
            limit=100,
        )
        bodies = [(e.seq, json.loads(e.body)) for e in entries]
        names = auth_service.principal_names(
            session, actors=[str(body.get("actor", "")) for _, body in bodies]
        )
    rows = [(seq, body, names.get(str(body.get("actor", "")))) for seq, body in bodies]
    return page(
        request,
        "audit.html",
        caller=caller,
        rows=rows,
        older=older,
        filters=filters,
        request_query=request.url.query,
        **extra,
    )


@router.get("/console/audit", response_class=HTMLResponse)
def audit_viewer(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.AUDIT_ENTRIES_READ)
    return _audit_page(request, rt, caller)


@router.post("/console/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, rt: Rt, caller: Staff, csrf: Annotated[str, Form()]) -> Response:
    """Recompute every leaf and root and check them against every signed head."""
    caller = allowed(request, caller, Permission.AUDIT_ENTRIES_READ, csrf)
    with rt.unit_of_work(readonly=True) as session:
        result = verify_log(session, head_file=rt.head_file, keys=rt.keys)
    return _audit_page(request, rt, caller, result=result)


def _unconfirmed(request: Request, rt: Runtime, caller: Caller) -> Response:
    """Suspending an authority holds its orders and a revoked key never comes back: the
    admin ticks a confirmation first, so a stray click or a replayed form does nothing."""
    error = translator(language(request))["confirmation_missing"]
    return _admin_page(request, rt, caller, error=error, status=400)


@router.get("/console/admin", response_class=HTMLResponse)
def admin(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.AUTHORITIES_MANAGE)
    return _admin_page(request, rt, caller)


@router.post("/console/admin/enrolments", response_class=HTMLResponse)
def admin_enrol(
    request: Request,
    rt: Rt,
    caller: Staff,
    csrf: Annotated[str, Form()],
    role: Annotated[str, Form(max_length=16)],
    name: Annotated[str, Form(min_length=1, max_length=128, pattern=r"^[\w .@\-]+$")],
) -> Response:
    """A new principal: an enrolment code, shown once, for the person to redeem; for the
    legal, auditor and admin roles, a proposal that another admin must confirm."""
    caller = allowed(request, caller, Permission.ENROLMENTS_CREATE, csrf)
    try:
        parsed = auth_service.parse_role(role)
        with rt.unit_of_work() as session:
            if parsed in auth_service.PRIVILEGED_ROLES:
                proposal = grants.propose(
                    session,
                    data=RoleGrantProposal(kind=ProposalKind.ROLE_GRANT, role=parsed, name=name),
                    caller=caller,
                    settings=rt.settings,
                )
                issued = None
            else:
                issued = enrolment.enrol_principal(
                    session, role=parsed, name=name, settings=rt.settings, actor=caller.actor
                )
                proposal = None
    except RempartError as exc:
        return _admin_page(request, rt, caller, error=exc.message)
    return _admin_page(request, rt, caller, issued=issued, proposed=proposal)


@router.post("/console/admin/proposals/{proposal_id}/{decision}", response_class=HTMLResponse)
def admin_decide(
    request: Request,
    rt: Rt,
    caller: Staff,
    proposal_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    decision: Annotated[str, Path(pattern=r"^(confirm|reject)$")],
    csrf: Annotated[str, Form()],
) -> Response:
    """The second admin confirms (a role grant shows the new person's code, once), or any
    admin rejects."""
    caller = allowed(request, caller, Permission.GRANTS_MANAGE, csrf)
    try:
        with rt.unit_of_work() as session:
            if decision == "confirm":
                decided = grants.confirm(
                    session, proposal_id=proposal_id, caller=caller, settings=rt.settings
                )
                issued = decided.enrolment
            else:
                grants.reject(session, proposal_id=proposal_id, caller=caller)
                issued = None
    except RempartError as exc:
        return _admin_page(request, rt, caller, error=exc.message)
    return _admin_page(request, rt, caller, issued=issued)


@router.post("/console/admin/tokens/{token_id}/revoke", response_class=HTMLResponse)
def admin_token_revoke(
    request: Request,
    rt: Rt,
    caller: Staff,
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    csrf: Annotated[str, Form()],
) -> Response:
    caller = allowed(request, caller, Permission.TOKENS_MANAGE, csrf)
    try:
        with rt.unit_of_work() as session:
            auth_service.revoke_token(session, token_id=token_id, actor=caller.actor)
    except RempartError as exc:
        return _admin_page(request, rt, caller, error=exc.message)
    return RedirectResponse("/console/admin", status_code=303)


@router.post("/console/admin/logins/{username}/{action}", response_class=HTMLResponse)
def admin_login(
    request: Request,
    rt: Rt,
    caller: Staff,
    username: Annotated[str, Path(min_length=1, max_length=64)],
    action: Annotated[str, Path(pattern=r"^(disable|totp-reset)$")],
    csrf: Annotated[str, Form()],
) -> Response:
    """Disable a console login, or void its second factor (the reset code is shown once;
    the person also needs their own password to use it)."""
    caller = allowed(request, caller, Permission.LOGINS_MANAGE, csrf)
    try:
        with rt.unit_of_work() as session:
            if action == "disable":
                signin.disable_login(session, username=username, actor=caller.actor)
                issued = None
            else:
                issued = signin.start_totp_reset(
                    session, username=username, settings=rt.settings, actor=caller.actor
                )
    except RempartError as exc:
        return _admin_page(request, rt, caller, error=exc.message)
    return _admin_page(request, rt, caller, issued=issued)


def _admin_page(request: Request, rt: Runtime, caller: Caller, **extra: Any) -> Response:
    with rt.unit_of_work(readonly=True) as session:
        principals = session.execute(select(Principal).order_by(Principal.id)).scalars().all()
        registry = authorities.list_authorities(session)
        proposals = grants.list_proposals(session, limit=50)
        tokens = [t for t in auth_service.list_tokens(session) if t.revoked_at is None]
        logins = signin.list_logins(session)
    return page(
        request,
        "admin.html",
        caller=caller,
        principals=principals,
        authorities=registry,
        proposals=proposals,
        tokens=tokens,
        logins=logins,
        roles=[r.value for r in Role],
        **extra,
    )


@router.get("/console/grants", response_class=HTMLResponse)
def grants_page(request: Request, rt: Rt, caller: Staff) -> Response:
    """Privileged grants, for the legal reviewers and auditors as well as the admins."""
    caller = allowed(request, caller, Permission.GRANTS_READ)
    with rt.unit_of_work(readonly=True) as session:
        proposals = grants.list_proposals(session, limit=200)
    return page(request, "grants.html", caller=caller, proposals=proposals)


@router.post("/console/admin/authorities/{code}/status", response_class=HTMLResponse)
def admin_authority_status(
    request: Request,
    rt: Rt,
    caller: Staff,
    code: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")],
    csrf: Annotated[str, Form()],
    status: Annotated[AuthorityStatus, Form()],
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Suspend an authority (its orders are refused and held) at once; verifying or
    reinstating it files a proposal that another admin confirms."""
    caller = allowed(request, caller, Permission.AUTHORITIES_MANAGE, csrf)
    if status is AuthorityStatus.SUSPENDED and confirm != "yes":
        return _unconfirmed(request, rt, caller)
    try:
        with rt.unit_of_work() as session:
            if status is AuthorityStatus.VERIFIED:
                proposal = grants.propose(
                    session,
                    data=AuthorityVerificationProposal(
                        kind=ProposalKind.AUTHORITY_VERIFICATION, authority=code
                    ),
                    caller=caller,
                    settings=rt.settings,
                )
                return _admin_page(request, rt, caller, proposed=proposal)
            authorities.set_status(session, code=code, status=status, actor=caller.actor)
    except RempartError as exc:
        return _admin_page(request, rt, caller, error=exc.message)
    return RedirectResponse("/console/admin", status_code=303)


@router.post("/console/admin/keys/{kid}/revoke", response_class=HTMLResponse)
def admin_key_revoke(
    request: Request,
    rt: Rt,
    caller: Staff,
    kid: Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")],
    csrf: Annotated[str, Form()],
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    caller = allowed(request, caller, Permission.AUTHORITIES_MANAGE, csrf)
    if confirm != "yes":
        return _unconfirmed(request, rt, caller)
    try:
        with rt.unit_of_work() as session:
            authorities.revoke_key(session, kid=kid, actor=caller.actor)
    except RempartError as exc:
        return _admin_page(request, rt, caller, error=exc.message)
    return RedirectResponse("/console/admin", status_code=303)
