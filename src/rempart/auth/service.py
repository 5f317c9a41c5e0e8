from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth.exceptions import Forbidden, PrincipalExists, Unauthenticated, UnknownRole
from rempart.auth.models import ApiToken, Principal
from rempart.auth.permissions import Permission, Role, role_has
from rempart.auth.schemas import PrincipalRead, TokenCreated
from rempart.core.clock import utcnow
from rempart.core.ids import new_token

TOKEN_PREFIX = "rpt"  # noqa: S105 - a label, not a secret


@dataclass(frozen=True)
class Caller:
    principal_id: int
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"principal:{self.principal_id}"


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise UnknownRole(
            f"Unknown role; choose one of: {', '.join(r.value for r in Role)}."
        ) from None


def ensure_principal(session: Session, *, role: Role, name: str, actor: str) -> Principal:
    """The principal ``name``, created with ``role`` if new."""
    principal = session.execute(
        select(Principal).where(Principal.name == name)
    ).scalar_one_or_none()
    if principal is None:
        principal = Principal(name=name, role=role.value, status="active", created_at=utcnow())
        session.add(principal)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="auth.principal.create",
            target=f"principal:{principal.id}",
            details={"role": role.value},
        )
    elif principal.role != role.value:
        # A conflict with stored state, not a lack of permission: 409, not 403.
        raise PrincipalExists(
            "That principal exists with another role; pick a new name.", code="role_mismatch"
        )
    return principal


def create_token(session: Session, *, role: Role, name: str, actor: str) -> TokenCreated:
    """Issue a token for the principal ``name``, creating it with ``role`` if new."""
    principal = ensure_principal(session, role=role, name=name, actor=actor)
    token = new_token(TOKEN_PREFIX)
    session.add(
        ApiToken(
            principal_id=principal.id,
            token_hash=_hash(token),
            prefix=token[:10],
            created_at=utcnow(),
        )
    )
    audit.record(
        session,
        actor=actor,
        action="auth.token.create",
        target=f"principal:{principal.id}",
        details={"prefix": token[:10]},
    )
    session.flush()
    return TokenCreated(
        principal=PrincipalRead.model_validate(principal, from_attributes=True),
        token=token,
        prefix=token[:10],
    )


def authenticate(session: Session, *, token: str | None) -> Caller:
    if not token:
        raise Unauthenticated("A bearer token is required.", code="missing_token")
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == _hash(token))
    ).scalar_one_or_none()
    now = utcnow()
    if (
        row is None
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise Unauthenticated("The bearer token is not valid.", code="invalid_token")
    if row.principal.status != "active":
        raise Unauthenticated(
            "The principal of this token is not active.", code="principal_inactive"
        )
    return Caller(
        principal_id=row.principal.id, name=row.principal.name, role=Role(row.principal.role)
    )


def authorise(caller: Caller, permission: Permission, *alternatives: Permission) -> None:
    if not any(role_has(caller.role, p) for p in (permission, *alternatives)):
        raise Forbidden(
            f"The role '{caller.role}' lacks the permission '{permission}'.",
            permission=permission.value,
        )


def get_principal(session: Session, *, principal_id: int) -> PrincipalRead:
    principal = session.get(Principal, principal_id)
    if principal is None:
        raise Unauthenticated("The principal of this token no longer exists.", code="invalid_token")
    return PrincipalRead.model_validate(principal, from_attributes=True)
