"""Auditors' and admins' pages: the audit log and its verification, the registry, tokens."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from rempart.audit import service as audit_service
from rempart.audit.verify import verify_log
from rempart.auth import service as auth_service
from rempart.auth.models import Principal
from rempart.auth.permissions import Permission, Role
from rempart.auth.service import Caller
from rempart.core.deps import Runtime
from rempart.core.errors import RempartError
from rempart.legal import authorities
from rempart.legal.schemas import AuthorityStatus
from rempart.web.pages import (
    Rt,
    Staff,
    allowed,
    page,
)

router = APIRouter(include_in_schema=False)


# -- auditors and admins --------------------------------------------------------------


@router.get("/console/audit", response_class=HTMLResponse)
def audit_viewer(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.AUDIT_ENTRIES_READ)
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
    caller = allowed(request, caller, Permission.AUDIT_ENTRIES_READ, csrf)
    with rt.unit_of_work(readonly=True) as session:
        result = verify_log(session, head_file=rt.head_file, keys=rt.keys)
    return page(request, "audit.html", caller=caller, rows=[], next_after=None, result=result)


@router.get("/console/admin", response_class=HTMLResponse)
def admin(request: Request, rt: Rt, caller: Staff) -> Response:
    caller = allowed(request, caller, Permission.AUTHORITIES_MANAGE)
    return _admin_page(request, rt, caller)


@router.post("/console/admin/tokens", response_class=HTMLResponse)
def admin_token(
    request: Request,
    rt: Rt,
    caller: Staff,
    csrf: Annotated[str, Form()],
    role: Annotated[str, Form(max_length=16)],
    name: Annotated[str, Form(min_length=1, max_length=128, pattern=r"^[\w .@\-]+$")],
) -> Response:
    """A new API token, shown once."""
    caller = allowed(request, caller, Permission.TOKENS_MANAGE, csrf)
    try:
        with rt.unit_of_work() as session:
            created = auth_service.create_token(
                session, role=auth_service.parse_role(role), name=name, actor=caller.actor
            )
    except RempartError as exc:
        return _admin_page(request, rt, caller, error=exc.message)
    return _admin_page(request, rt, caller, new_token=created.token, token_for=name)


def _admin_page(request: Request, rt: Runtime, caller: Caller, **extra: Any) -> Response:
    with rt.unit_of_work(readonly=True) as session:
        principals = session.execute(select(Principal).order_by(Principal.id)).scalars().all()
        registry = authorities.list_authorities(session)
    return page(
        request,
        "admin.html",
        caller=caller,
        principals=principals,
        authorities=registry,
        roles=[r.value for r in Role],
        **extra,
    )


@router.post("/console/admin/authorities/{code}/status", response_class=HTMLResponse)
def admin_authority_status(
    request: Request,
    rt: Rt,
    caller: Staff,
    code: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")],
    csrf: Annotated[str, Form()],
    status: Annotated[AuthorityStatus, Form()],
) -> Response:
    """Verify or suspend an authority: a suspended one's orders are refused."""
    caller = allowed(request, caller, Permission.AUTHORITIES_MANAGE, csrf)
    try:
        with rt.unit_of_work() as session:
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
) -> Response:
    caller = allowed(request, caller, Permission.AUTHORITIES_MANAGE, csrf)
    try:
        with rt.unit_of_work() as session:
            authorities.revoke_key(session, kid=kid, actor=caller.actor)
    except RempartError as exc:
        return _admin_page(request, rt, caller, error=exc.message)
    return RedirectResponse("/console/admin", status_code=303)
