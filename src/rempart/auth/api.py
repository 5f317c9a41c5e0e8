from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from rempart.auth import service
from rempart.auth.permissions import Permission, Role
from rempart.auth.schemas import PrincipalRead, TokenCreated
from rempart.auth.service import Caller
from rempart.core.deps import Runtime, runtime

router = APIRouter(prefix="/v1/auth", tags=["auth"])


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
        with rt.unit_of_work(readonly=True) as session:
            caller = service.authenticate(session, token=bearer_token(request))
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
    with rt.unit_of_work(readonly=True) as session:
        return service.authenticate(session, token=token)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: str = Field(min_length=1, max_length=128, pattern=r"^[\w .@\-]+$")


@router.get("/me", response_model=PrincipalRead)
def whoami(
    caller: Annotated[Caller, Depends(require(Permission.WHOAMI))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> PrincipalRead:
    with rt.unit_of_work(readonly=True) as session:
        return service.get_principal(session, principal_id=caller.principal_id)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(
    body: TokenRequest,
    caller: Annotated[Caller, Depends(require(Permission.TOKENS_MANAGE))],
    rt: Annotated[Runtime, Depends(runtime)],
) -> TokenCreated:
    with rt.unit_of_work() as session:
        return service.create_token(session, role=body.role, name=body.name, actor=caller.actor)
