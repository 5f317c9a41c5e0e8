"""The registry of authorities over HTTP: admins manage it, legal and auditors read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from rempart.auth.api import require
from rempart.auth.permissions import Permission
from rempart.auth.service import Caller
from rempart.core.deps import Runtime, runtime
from rempart.legal import authorities
from rempart.legal.schemas import (
    AuthorityContactChange,
    AuthorityCreate,
    AuthorityCreated,
    AuthorityKeyCreate,
    AuthorityKeyRead,
    AuthorityRead,
    AuthorityStatusChange,
)

router = APIRouter(prefix="/v1/legal/authorities", tags=["legal"])

Manager = Annotated[Caller, Depends(require(Permission.AUTHORITIES_MANAGE))]
Reader = Annotated[Caller, Depends(require(Permission.AUTHORITIES_READ))]
Rt = Annotated[Runtime, Depends(runtime)]
Code = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]


@router.post("", response_model=AuthorityCreated, status_code=201)
def add_authority(body: AuthorityCreate, caller: Manager, rt: Rt) -> AuthorityCreated:
    """Registered pending, with the enrolment code its principal redeems for its own token;
    with ``verified``, also a verification proposal that another admin must confirm."""
    with rt.unit_of_work() as session:
        return authorities.add_authority(
            session, data=body, actor=caller.actor, settings=rt.settings, proposer=caller
        )


@router.get("", response_model=list[AuthorityRead])
def list_authorities(
    caller: Reader,
    rt: Rt,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
) -> list[AuthorityRead]:
    with rt.unit_of_work(readonly=True) as session:
        return authorities.list_authorities(session, country=country)


@router.get("/me", response_model=AuthorityRead)
def my_authority(
    caller: Annotated[Caller, Depends(require(Permission.ORDERS_SUBMIT))], rt: Rt
) -> AuthorityRead:
    with rt.unit_of_work(readonly=True) as session:
        return authorities.my_authority(session, principal_id=caller.principal_id)


@router.get("/{code}", response_model=AuthorityRead)
def get_authority(code: Code, caller: Reader, rt: Rt) -> AuthorityRead:
    with rt.unit_of_work(readonly=True) as session:
        return authorities.get_authority(session, code=code)


@router.post("/{code}/keys", response_model=AuthorityKeyRead, status_code=201)
def add_key(code: Code, body: AuthorityKeyCreate, caller: Manager, rt: Rt) -> AuthorityKeyRead:
    with rt.unit_of_work() as session:
        return authorities.add_key(session, code=code, data=body, actor=caller.actor)


@router.post("/keys/{kid}/revocation", response_model=AuthorityKeyRead)
def revoke_key(
    kid: Annotated[str, Path(min_length=1, max_length=128)], caller: Manager, rt: Rt
) -> AuthorityKeyRead:
    with rt.unit_of_work() as session:
        return authorities.revoke_key(session, kid=kid, actor=caller.actor)


@router.post("/{code}/status", response_model=AuthorityRead)
def set_status(code: Code, body: AuthorityStatusChange, caller: Manager, rt: Rt) -> AuthorityRead:
    with rt.unit_of_work() as session:
        return authorities.set_status(session, code=code, status=body.status, actor=caller.actor)


@router.put("/{code}/contact", response_model=AuthorityRead)
def set_contact(code: Code, body: AuthorityContactChange, caller: Manager, rt: Rt) -> AuthorityRead:
    """Change the contact that reviewers call back: orders in the next 30 days are flagged
    for a call-back, and reviewers see when the contact changed."""
    with rt.unit_of_work() as session:
        return authorities.set_contact(session, code=code, contact=body.contact, actor=caller.actor)
