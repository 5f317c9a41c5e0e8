"""Enrolment: the person completes their own account with a one-time code.

An admin creates the principal (status ``enrolling``, no credential) and gets a code to
hand over out of band; the person redeems it for their own API token or console login.
The code is random, kept hashed, expires and works once: an admin who redeemed it in the
person's place would leave them with a dead code, which they would notice and report.
Privileged roles go through a second admin first (auth/grants.py).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth import events, service
from rempart.auth.exceptions import EnrolmentInvalid, FourEyesRequired
from rempart.auth.models import Enrolment, Principal
from rempart.auth.permissions import Role
from rempart.auth.schemas import EnrolmentIssued, TokenCreated
from rempart.core.clock import as_utc, now_of
from rempart.core.settings import Settings

ENROL = "enrol"
TOTP_RESET = "totp_reset"
CODE_PREFIX = "rpe"


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


def new_code() -> str:
    return f"{CODE_PREFIX}_{secrets.token_urlsafe(32)}"


def code_hash(code: str) -> bytes:
    return _hash(code)


def issue_code(
    session: Session,
    *,
    principal: Principal,
    purpose: str,
    lifetime: timedelta,
    actor: str,
    partner_hash: bytes | None = None,
) -> EnrolmentIssued:
    """A fresh code for ``principal``; earlier unredeemed codes of the same purpose die.
    With ``partner_hash``, the code works only together with that other half."""
    now = now_of(session)
    session.execute(
        update(Enrolment)
        .where(
            Enrolment.principal_id == principal.id,
            Enrolment.purpose == purpose,
            Enrolment.redeemed_at.is_(None),
        )
        .values(expires_at=now)
    )
    code = new_code()
    session.add(
        Enrolment(
            principal_id=principal.id,
            purpose=purpose,
            code_hash=_hash(code),
            partner_hash=partner_hash,
            created_by=actor,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    opened = events.TotpResetOpened if purpose == TOTP_RESET else events.EnrolmentOpened
    audit.record(
        session,
        opened(expires_at=(now + lifetime).isoformat()),
        actor=actor,
        target=f"principal:{principal.id}",
    )
    session.flush()
    return EnrolmentIssued(
        principal=principal.name,
        role=Role(principal.role),
        purpose=purpose,
        code=code,
        expires_at=as_utc(now + lifetime),
        needs_second_code=partner_hash is not None,
    )


def enrol_principal(
    session: Session, *, role: Role, name: str, settings: Settings, actor: str
) -> EnrolmentIssued:
    """A new principal waiting for its owner, and the code they redeem. Not for the legal,
    auditor or admin roles, which need a second admin (a grant proposal)."""
    if role in service.PRIVILEGED_ROLES:
        raise FourEyesRequired(
            "Granting this role needs two admins: propose it (POST /v1/auth/proposals, "
            "kind role_grant) and have another admin confirm it."
        )
    return open_enrolment(session, role=role, name=name, settings=settings, actor=actor)


def open_enrolment(
    session: Session,
    *,
    role: Role,
    name: str,
    settings: Settings,
    actor: str,
    partner_hash: bytes | None = None,
) -> EnrolmentIssued:
    principal = service.create_principal(
        session, role=role, name=name, actor=actor, status="enrolling"
    )
    return issue_code(
        session,
        principal=principal,
        purpose=ENROL,
        lifetime=timedelta(hours=settings.enrolment_hours),
        actor=actor,
        partner_hash=partner_hash,
    )


def claim(
    session: Session, *, code: str, purpose: str, second_code: str | None = None
) -> Principal:
    """Mark the code used and return its principal. Unknown, used, expired and
    wrong-purpose codes are refused alike; so is a two-part code without its other half
    (the halves may come in either order)."""
    now = now_of(session)
    refused = EnrolmentInvalid("This code is unknown, already used or expired; ask for a new one.")
    pairs = [(code, second_code)]
    if second_code is not None:
        pairs.append((second_code, code))
    for main, other in pairs:
        partner = (
            Enrolment.partner_hash.is_(None)
            if other is None
            else or_(Enrolment.partner_hash.is_(None), Enrolment.partner_hash == _hash(other))
        )
        # One conditional UPDATE: of two concurrent redemptions, exactly one wins.
        spent = session.execute(
            update(Enrolment)
            .where(
                Enrolment.code_hash == _hash(main),
                Enrolment.purpose == purpose,
                Enrolment.redeemed_at.is_(None),
                Enrolment.expires_at > now,
                partner,
            )
            .values(redeemed_at=now)
            .execution_options(synchronize_session=False)
        )
        if spent.rowcount == 1:  # type: ignore[attr-defined]
            code = main
            break
    else:
        raise refused
    row = session.execute(select(Enrolment).where(Enrolment.code_hash == _hash(code))).scalar_one()
    session.refresh(row)
    if purpose == ENROL and row.principal.status != "enrolling":
        raise refused
    if purpose == ENROL:
        row.principal.status = "active"
    audit.record(
        session,
        events.EnrolmentRedeemed(purpose=purpose),
        actor=f"principal:{row.principal_id}",
        target=f"principal:{row.principal_id}",
    )
    session.flush()
    return row.principal


def redeem_for_token(
    session: Session, *, code: str, settings: Settings, second_code: str | None = None
) -> TokenCreated:
    """The person's own first API token, issued to them and to nobody else."""
    principal = claim(session, code=code, purpose=ENROL, second_code=second_code)
    return service.issue_token(
        session,
        principal=principal,
        lifetime=service.token_lifetime(settings, Role(principal.role)),
        actor=f"principal:{principal.id}",
    )


def purpose_of(session: Session, *, code: str) -> str | None:
    """What an unspent, unexpired code is for; None otherwise."""
    purpose: str | None = session.execute(
        select(Enrolment.purpose).where(
            Enrolment.code_hash == _hash(code),
            Enrolment.redeemed_at.is_(None),
            Enrolment.expires_at > now_of(session),
        )
    ).scalar_one_or_none()
    return purpose
