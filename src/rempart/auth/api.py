from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict

from rempart.auth import enrolment, grants, service
from rempart.auth.permissions import Permission, Role
from rempart.auth.schemas import (
    EnrolmentIssued,
    LoginRead,
    PrincipalName,
    PrincipalRead,
    ProposalCreate,
    ProposalDecided,
    ProposalFiled,
    ProposalRead,
    ProposalStatus,
    TokenCreated,
    TokenRead,
)
from rempart.auth.service import Caller
from rempart.core.deps import Runtime, runtime

router = APIRouter(prefix="/v1/auth", tags=["auth"])
Rt = Annotated[Runtime, Depends(runtime)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass(frozen=True)
class Require:
    """A dependency that yields a caller holding one of ``permissions``; the permissions
    stay readable on the route, so the authorisation matrix test can check every route."""

    permissions: tuple[Permission, ...]

    def __call__(self, request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Caller:
        with rt.read_connection() as connection:
            caller = service.authenticate_on(connection, token=bearer_token(request), now=rt.now())
        service.authorise(caller, *self.permissions)
        return caller


def require(permission: Permission, *alternatives: Permission) -> Require:
    """A caller holding ``permission`` (or one of the ``alternatives``)."""
    return Require((permission, *alternatives))


def optional_caller(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Caller | None:
    """For endpoints open to the public that also serve platforms and flaggers: no token is
    the public; a token must be valid."""
    token = bearer_token(request)
    if token is None:
        return None
    with rt.read_connection() as connection:
        return service.authenticate_on(connection, token=token, now=rt.now())


class TokenRequest(BaseModel):
    """Optional: a caller may name itself. Naming anyone else is refused (409)."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    name: PrincipalName | None = None


class EnrolmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: PrincipalName


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Body(min_length=8, max_length=128)]
    # For a privileged role: the other half, from the other admin (either order).
    second_code: Annotated[str | None, Body(min_length=8, max_length=128)] = None


Self = Annotated[Caller, Depends(require(Permission.OWN_TOKENS))]
Admin = Annotated[Caller, Depends(require(Permission.GRANTS_MANAGE))]
Username = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/me", response_model=PrincipalRead)
def whoami(caller: Annotated[Caller, Depends(require(Permission.WHOAMI))], rt: Rt) -> PrincipalRead:
    with rt.unit_of_work(readonly=True) as session:
        return service.get_principal(session, principal_id=caller.principal_id)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(
    caller: Self, rt: Rt, body: Annotated[TokenRequest | None, Body()] = None
) -> TokenCreated:
    """Another token for the caller itself (it expires; staff tokens sooner)."""
    with rt.unit_of_work() as session:
        return service.create_own_token(
            session,
            caller=caller,
            settings=rt.settings,
            name=body.name if body else None,
            role=body.role if body else None,
        )


@router.get("/tokens", response_model=list[TokenRead])
def own_tokens(caller: Self, rt: Rt) -> list[TokenRead]:
    with rt.unit_of_work(readonly=True) as session:
        return service.list_tokens(session, principal_name=caller.name)


@router.post("/tokens/{token_id}/revocation", response_model=TokenRead)
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], caller: Self, rt: Rt
) -> TokenRead:
    """Revoke one of the caller's tokens; an admin may revoke anyone's. Effective at once."""
    owner = None if caller.role is Role.ADMIN else caller.principal_id
    with rt.unit_of_work() as session:
        return service.revoke_token(session, token_id=token_id, actor=caller.actor, owner_id=owner)


@router.get("/principals", response_model=list[PrincipalRead])
def list_principals(
    caller: Annotated[Caller, Depends(require(Permission.PRINCIPALS_READ))], rt: Rt
) -> list[PrincipalRead]:
    with rt.unit_of_work(readonly=True) as session:
        return service.list_principals(session)


@router.get("/principals/{name}/tokens", response_model=list[TokenRead])
def principal_tokens(
    name: Annotated[str, Path(min_length=1, max_length=128)],
    caller: Annotated[Caller, Depends(require(Permission.TOKENS_MANAGE))],
    rt: Rt,
) -> list[TokenRead]:
    with rt.unit_of_work(readonly=True) as session:
        return service.list_tokens(session, principal_name=name)


@router.post("/enrolments", response_model=EnrolmentIssued, status_code=201)
def create_enrolment(
    body: EnrolmentRequest,
    caller: Annotated[Caller, Depends(require(Permission.ENROLMENTS_CREATE))],
    rt: Rt,
) -> EnrolmentIssued:
    """A new principal and the one-time code its owner redeems. Legal, auditor and admin
    roles are refused here (409 four_eyes_required): propose them instead."""
    with rt.unit_of_work() as session:
        return enrolment.enrol_principal(
            session, role=body.role, name=body.name, settings=rt.settings, actor=caller.actor
        )


@router.post("/enrolments/redeem", response_model=TokenCreated, status_code=201)
def redeem_enrolment(body: RedeemRequest, rt: Rt) -> TokenCreated:
    """No token needed: the code is the credential, once. Answers the person's own token."""
    with rt.unit_of_work() as session:
        return enrolment.redeem_for_token(
            session, code=body.code, settings=rt.settings, second_code=body.second_code
        )


@router.post("/proposals", response_model=ProposalFiled, status_code=201)
def propose(body: Annotated[ProposalCreate, Body()], caller: Admin, rt: Rt) -> ProposalFiled:
    """For a role grant, the answer carries the proposer's half of the person's code."""
    with rt.unit_of_work() as session:
        return grants.propose(session, data=body, caller=caller, settings=rt.settings)


@router.get("/proposals", response_model=list[ProposalRead])
def list_proposals(
    caller: Annotated[Caller, Depends(require(Permission.GRANTS_READ))],
    rt: Rt,
    status: Annotated[ProposalStatus | None, Query()] = None,
) -> list[ProposalRead]:
    """Privileged grants, proposed and decided: admins, auditors and legal reviewers."""
    with rt.unit_of_work(readonly=True) as session:
        return grants.list_proposals(session, status=status)


@router.post("/proposals/{proposal_id}/confirmation", response_model=ProposalDecided)
def confirm(
    proposal_id: Annotated[int, Path(ge=1, le=2**31 - 1)], caller: Admin, rt: Rt
) -> ProposalDecided:
    """The second admin applies the proposal; its author is refused (four_eyes_required)."""
    with rt.unit_of_work() as session:
        return grants.confirm(session, proposal_id=proposal_id, caller=caller, settings=rt.settings)


@router.post("/proposals/{proposal_id}/rejection", response_model=ProposalRead)
def reject(
    proposal_id: Annotated[int, Path(ge=1, le=2**31 - 1)], caller: Admin, rt: Rt
) -> ProposalRead:
    with rt.unit_of_work() as session:
        return grants.reject(session, proposal_id=proposal_id, caller=caller)


Logins = Annotated[Caller, Depends(require(Permission.LOGINS_MANAGE))]


@router.get("/logins", response_model=list[LoginRead])
def list_logins(caller: Logins, rt: Rt) -> list[LoginRead]:
    from rempart.auth import signin

    with rt.unit_of_work(readonly=True) as session:
        return signin.list_logins(session)


@router.post("/logins/{username}/disable", response_model=LoginRead)
def disable_login(username: Username, caller: Logins, rt: Rt) -> LoginRead:
    from rempart.auth import signin

    with rt.unit_of_work() as session:
        return signin.disable_login(session, username=username, actor=caller.actor)


@router.post("/logins/{username}/totp-reset", response_model=EnrolmentIssued)
def reset_totp(username: Username, caller: Logins, rt: Rt) -> EnrolmentIssued:
    """Void the login's second factor; the code lets the person set a new one with their
    own password (console page /console/enrol)."""
    from rempart.auth import signin

    with rt.unit_of_work() as session:
        return signin.start_totp_reset(
            session, username=username, settings=rt.settings, actor=caller.actor
        )
