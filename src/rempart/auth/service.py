"""Principals and their API tokens.

A credential is issued only to the principal it belongs to: a caller may mint tokens for
itself, a new person gets their first credential by redeeming an enrolment code
(auth/enrolment.py), and the service-layer bootstrap (``create_token``) creates a *new*
principal only, never a token for an existing one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth import events
from rempart.auth.exceptions import (
    Forbidden,
    FourEyesRequired,
    OtherPrincipal,
    PrincipalExists,
    TokenNotFound,
    Unauthenticated,
    UnknownRole,
)
from rempart.auth.models import ApiToken, Principal
from rempart.auth.permissions import Permission, Role, role_has
from rempart.auth.schemas import PrincipalRead, TokenCreated, TokenRead
from rempart.core.clock import as_utc, now_of
from rempart.core.ids import new_token
from rempart.core.settings import Settings

TOKEN_PREFIX = "rpt"  # noqa: S105 - a label, not a secret
# People, whose tokens sit in shells and notebooks: they expire sooner than machines'.
STAFF_ROLES = frozenset({Role.LEGAL, Role.MODERATOR, Role.ADMIN, Role.AUDITOR})
# Roles whose grant needs two admins.
PRIVILEGED_ROLES = frozenset({Role.LEGAL, Role.AUDITOR, Role.ADMIN})


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


def token_lifetime(settings: Settings, role: Role) -> timedelta:
    days = settings.staff_token_days if role in STAFF_ROLES else settings.service_token_days
    return timedelta(days=days)


def _default_lifetime(role: Role) -> timedelta:
    days = Settings.model_fields[
        "staff_token_days" if role in STAFF_ROLES else "service_token_days"
    ].default
    return timedelta(days=int(days))


def by_name(session: Session, *, name: str) -> Principal | None:
    principal: Principal | None = session.execute(
        select(Principal).where(Principal.name == name)
    ).scalar_one_or_none()
    return principal


def create_principal(
    session: Session, *, role: Role, name: str, actor: str, status: str = "active"
) -> Principal:
    """A new principal; an existing name is refused whatever its role, so nobody is
    handed a principal that is already someone's."""
    if by_name(session, name=name) is not None:
        raise PrincipalExists("A principal already has this name; pick a new one.")
    principal = Principal(name=name, role=role.value, status=status, created_at=now_of(session))
    session.add(principal)
    session.flush()
    audit.record(
        session,
        events.PrincipalCreated(role=role.value, status=status),
        actor=actor,
        target=f"principal:{principal.id}",
    )
    return principal


def ensure_principal(session: Session, *, role: Role, name: str, actor: str) -> Principal:
    """The system principal ``name`` (an adapter's own), created with ``role`` if new. No
    credential comes with it."""
    principal = by_name(session, name=name)
    if principal is None:
        return create_principal(session, role=role, name=name, actor=actor)
    if principal.role != role.value:
        raise PrincipalExists(
            "That principal exists with another role; pick a new name.", code="role_mismatch"
        )
    return principal


def issue_token(
    session: Session, *, principal: Principal, lifetime: timedelta, actor: str
) -> TokenCreated:
    """A new token for ``principal``; callers make sure it goes to that principal only."""
    token = new_token(TOKEN_PREFIX)
    now = now_of(session)
    row = ApiToken(
        principal_id=principal.id,
        token_hash=_hash(token),
        prefix=token[:10],
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        events.TokenCreated(token_id=row.id, prefix=token[:10], expires_at=row_expiry(row)),
        actor=actor,
        target=f"principal:{principal.id}",
    )
    return TokenCreated(
        principal=PrincipalRead.model_validate(principal, from_attributes=True),
        token=token,
        prefix=token[:10],
        id=row.id,
        expires_at=as_utc(now + lifetime),
    )


def row_expiry(row: ApiToken) -> str | None:
    return as_utc(row.expires_at).isoformat() if row.expires_at else None


def create_token(
    session: Session, *, role: Role, name: str, actor: str, lifetime: timedelta | None = None
) -> TokenCreated:
    """The bootstrap: a NEW principal ``name`` with ``role`` and its first token. For the
    operator of a fresh install (the first admin), the demo and tests; an existing name is
    refused (409 ``principal_exists``)."""
    principal = create_principal(session, role=role, name=name, actor=actor)
    return issue_token(
        session, principal=principal, lifetime=lifetime or _default_lifetime(role), actor=actor
    )


def create_own_token(
    session: Session,
    *,
    caller: Caller,
    settings: Settings,
    name: str | None = None,
    role: Role | None = None,
) -> TokenCreated:
    """Another token for the caller itself. Naming anybody else is refused: a principal
    that exists is someone's, a new one is created by enrolment. A principal has one
    role for life, so asking for another is refused too."""
    if name is not None and name != caller.name:
        if by_name(session, name=name) is not None:
            raise OtherPrincipal(
                "A token is issued only to the principal it belongs to; that person signs "
                "in with their own credentials."
            )
        raise OtherPrincipal(
            "A new principal is created by enrolment: POST /v1/auth/enrolments, and the "
            "person redeems the code themselves.",
            code="enrolment_required",
        )
    if role is not None and role is not caller.role:
        raise OtherPrincipal(
            "A principal holds one role; another role is another principal, created by enrolment.",
            code="role_mismatch",
        )
    principal = session.get(Principal, caller.principal_id)
    if principal is None:
        raise Unauthenticated("The principal of this token no longer exists.", code="invalid_token")
    return issue_token(
        session,
        principal=principal,
        lifetime=token_lifetime(settings, caller.role),
        actor=caller.actor,
    )


# Built once, columns only, one statement: it runs before every authenticated request (an
# ORM row and its joined principal cost more than the rest of a single notice's read).
_TOKEN_HOLDER = (
    select(
        ApiToken.__table__.c.revoked_at,
        ApiToken.__table__.c.expires_at,
        Principal.__table__.c.id,
        Principal.__table__.c.name,
        Principal.__table__.c.role,
        Principal.__table__.c.status,
    )
    .select_from(
        ApiToken.__table__.join(
            Principal.__table__, Principal.__table__.c.id == ApiToken.__table__.c.principal_id
        )
    )
    .where(ApiToken.__table__.c.token_hash == bindparam("token_hash"))
)


def authenticate(session: Session, *, token: str | None) -> Caller:
    """The caller a bearer token stands for, read from the database on every call: a
    revoked token, an expired one or a deactivated principal is refused at once."""
    return authenticate_on(session.connection(), token=token, now=now_of(session))


def authenticate_on(connection: Connection, *, token: str | None, now: datetime) -> Caller:
    """:func:`authenticate` on a bare connection (the API's dependencies, on every request)."""
    if not token:
        raise Unauthenticated("A bearer token is required.", code="missing_token")
    row = connection.execute(_TOKEN_HOLDER, {"token_hash": _hash(token)}).one_or_none()
    if row is None:
        raise Unauthenticated("The bearer token is not valid.", code="invalid_token")
    revoked_at, expires_at, principal_id, name, role, status = row
    if revoked_at is not None:
        raise Unauthenticated("This token was revoked.", code="token_revoked")
    if expires_at is not None and as_utc(expires_at) <= now:
        raise Unauthenticated("This token has expired; create a new one.", code="token_expired")
    if status != "active":
        raise Unauthenticated(
            "The principal of this token is not active.", code="principal_inactive"
        )
    return Caller(principal_id=principal_id, name=name, role=Role(role))


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


def principal_names(session: Session, *, actors: list[str]) -> dict[str, str]:
    """The names behind ``principal:N`` actors, for people reading the audit log."""
    ids = {int(a.split(":", 1)[1]) for a in actors if re.fullmatch(r"principal:\d{1,18}", a)}
    if not ids:
        return {}
    rows = session.execute(select(Principal.id, Principal.name).where(Principal.id.in_(ids)))
    return {f"principal:{id_}": name for id_, name in rows}


def list_principals(session: Session) -> list[PrincipalRead]:
    rows = session.execute(select(Principal).order_by(Principal.id)).scalars()
    return [PrincipalRead.model_validate(p, from_attributes=True) for p in rows]


def _token_read(row: ApiToken) -> TokenRead:
    return TokenRead(
        id=row.id,
        principal=row.principal.name,
        prefix=row.prefix,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
    )


def list_tokens(session: Session, *, principal_name: str | None = None) -> list[TokenRead]:
    """Tokens (never their secret): one principal's, or everybody's."""
    query = select(ApiToken).join(Principal).order_by(ApiToken.id)
    if principal_name is not None:
        query = query.where(Principal.name == principal_name)
    return [_token_read(row) for row in session.execute(query).scalars()]


def revoke_token(
    session: Session, *, token_id: int, actor: str, owner_id: int | None = None
) -> TokenRead:
    """Revoke a token at once. With ``owner_id``, only that principal's own tokens; an
    unknown id and somebody else's answer alike."""
    row = session.get(ApiToken, token_id)
    if row is None or (owner_id is not None and row.principal_id != owner_id):
        raise TokenNotFound("No such token.")
    if row.revoked_at is None:
        row.revoked_at = now_of(session)
        audit.record(
            session,
            events.TokenRevoked(token_id=row.id, prefix=row.prefix),
            actor=actor,
            target=f"principal:{row.principal_id}",
        )
        session.flush()
    return _token_read(row)


BOOTSTRAP_ADMINS = 2


def bootstrap_principal(session: Session, *, role: Role, name: str, actor: str) -> Principal:
    """The operator's path on the server (``rempart token create``, ``rempart user
    create``): a NEW principal only. Legal and auditor roles always need two admins; the
    admin role too, once the install has its first two admins (who confirm each other's
    grants from then on)."""
    if role in (Role.LEGAL, Role.AUDITOR):
        raise FourEyesRequired(
            "Granting this role needs two admins: propose it (API or console) and have "
            "another admin confirm it."
        )
    if role is Role.ADMIN:
        admins = session.execute(
            select(func.count()).select_from(Principal).where(Principal.role == Role.ADMIN.value)
        ).scalar_one()
        if admins >= BOOTSTRAP_ADMINS:
            raise FourEyesRequired(
                "This install has its admins: a new one is proposed by one admin and "
                "confirmed by another (API or console)."
            )
    return create_principal(session, role=role, name=name, actor=actor)
