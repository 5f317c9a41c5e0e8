"""Four eyes on privileged changes: one admin proposes, a different admin confirms.

Covered: granting the legal, auditor or admin role; verifying (or reinstating) an
authority; adding a key to an authority that is no longer pending. Protective actions
(suspending an authority, revoking a key or a token, disabling a login) stay one-admin.
Every proposal and decision is audited and listed for admins, auditors and the legal
reviewers, who are the ones a rogue grant would hurt.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth import enrolment, events, service
from rempart.auth.exceptions import (
    FourEyesRequired,
    PrincipalExists,
    ProposalClosed,
    ProposalNotFound,
)
from rempart.auth.models import GrantProposal, Principal
from rempart.auth.schemas import (
    ProposalCreate,
    ProposalDecided,
    ProposalFiled,
    ProposalKind,
    ProposalRead,
    ProposalStatus,
    RoleGrantProposal,
)
from rempart.auth.service import Caller
from rempart.core.clock import as_utc, now_of
from rempart.core.settings import Settings


class ProposalKindHandler(Protocol):
    """What a domain above auth contributes for a kind of proposal it owns (legal owns the
    authority proposals): the check made when it is proposed, and the change applied when a
    second admin confirms it."""

    def subject_and_payload(
        self, session: Session, data: ProposalCreate
    ) -> tuple[str, dict[str, Any]]: ...

    def apply(self, session: Session, *, payload: dict[str, Any], actor: str) -> None: ...


_handlers: dict[ProposalKind, ProposalKindHandler] = {}


def register_proposal_kind(kind: ProposalKind, handler: ProposalKindHandler) -> None:
    """Called by the owning domain when it is imported (legal.authorities)."""
    _handlers[kind] = handler


def _handler(kind: ProposalKind) -> ProposalKindHandler:
    # The app, the console and the CLI all import legal: a missing handler is a wiring bug.
    return _handlers[kind]


def _payload(session: Session, data: ProposalCreate) -> tuple[str, dict[str, Any]]:
    """The subject and exactly what the second admin will approve, checked now so that a
    proposal that could never apply is refused at once."""
    if isinstance(data, RoleGrantProposal):
        if service.by_name(session, name=data.name) is not None:
            raise PrincipalExists("A principal already has this name; pick a new one.")
        return data.name, {"name": data.name, "role": data.role.value}
    return _handler(data.kind).subject_and_payload(session, data)


def propose(
    session: Session, *, data: ProposalCreate, caller: Caller, settings: Settings
) -> ProposalFiled:
    subject, payload = _payload(session, data)
    part = None
    if isinstance(data, RoleGrantProposal):
        # Only the hash is kept; the half itself goes to the proposer, once.
        part = enrolment.new_code()
        payload["part_hash"] = enrolment.code_hash(part).hex()
    now = now_of(session)
    row = GrantProposal(
        kind=data.kind.value,
        subject=subject,
        payload=json.dumps(payload, sort_keys=True),
        status=ProposalStatus.PENDING.value,
        proposed_by=caller.principal_id,
        proposed_at=now,
        expires_at=now + timedelta(hours=settings.grant_proposal_hours),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        events.GrantProposed(kind=row.kind, subject=subject, **_public(payload)),
        actor=caller.actor,
        target=f"proposal:{row.id}",
    )
    return ProposalFiled(**_read(session, row).model_dump(), code_part=part)


def _public(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in ("jwk", "part_hash")}


def _get_pending(session: Session, proposal_id: int) -> GrantProposal:
    row = session.get(GrantProposal, proposal_id, with_for_update=True)
    if row is None:
        raise ProposalNotFound("No such proposal.")
    if row.status == ProposalStatus.PENDING and as_utc(row.expires_at) <= now_of(session):
        row.status = ProposalStatus.EXPIRED.value
        session.flush()
    if row.status != ProposalStatus.PENDING:
        raise ProposalClosed(f"This proposal is {row.status}; propose it again.")
    return row


def confirm(
    session: Session, *, proposal_id: int, caller: Caller, settings: Settings
) -> ProposalDecided:
    """Apply the proposal, as the second admin. The proposer confirming their own
    proposal is refused: that is the whole point."""
    row = _get_pending(session, proposal_id)
    if row.proposed_by == caller.principal_id:
        raise FourEyesRequired("Another admin must confirm this proposal, not its author.")
    payload = json.loads(row.payload)
    row.status = ProposalStatus.CONFIRMED.value
    row.decided_by = caller.principal_id
    row.decided_at = now_of(session)
    audit.record(
        session,
        events.GrantConfirmed(kind=row.kind, subject=row.subject, proposed_by=row.proposed_by),
        actor=caller.actor,
        target=f"proposal:{row.id}",
    )
    issued = None
    kind = ProposalKind(row.kind)
    if kind is ProposalKind.ROLE_GRANT:
        issued = enrolment.open_enrolment(
            session,
            role=service.parse_role(payload["role"]),
            name=payload["name"],
            settings=settings,
            actor=caller.actor,
            partner_hash=bytes.fromhex(payload["part_hash"]),
        )
    else:
        _handler(kind).apply(session, payload=payload, actor=caller.actor)
    session.flush()
    return ProposalDecided(proposal=_read(session, row), enrolment=issued)


def reject(session: Session, *, proposal_id: int, caller: Caller) -> ProposalRead:
    """Any admin, the author included, may withdraw or refuse a pending proposal."""
    row = _get_pending(session, proposal_id)
    row.status = ProposalStatus.REJECTED.value
    row.decided_by = caller.principal_id
    row.decided_at = now_of(session)
    audit.record(
        session,
        events.GrantRejected(kind=row.kind, subject=row.subject),
        actor=caller.actor,
        target=f"proposal:{row.id}",
    )
    session.flush()
    return _read(session, row)


def list_proposals(
    session: Session, *, status: ProposalStatus | None = None, limit: int = 200
) -> list[ProposalRead]:
    query = select(GrantProposal).order_by(GrantProposal.id.desc()).limit(limit)
    if status is not None:
        query = query.where(GrantProposal.status == status.value)
    now = now_of(session)
    reads = []
    for row in session.execute(query).scalars():
        read = _read(session, row)
        # Reads never write: an expired pending proposal is shown as expired.
        if read.status is ProposalStatus.PENDING and read.expires_at <= now:
            read.status = ProposalStatus.EXPIRED
        reads.append(read)
    if status is ProposalStatus.PENDING:
        reads = [r for r in reads if r.status is ProposalStatus.PENDING]
    return reads


def _name(session: Session, principal_id: int | None) -> str | None:
    if principal_id is None:
        return None
    principal = session.get(Principal, principal_id)
    return principal.name if principal else f"principal:{principal_id}"


def _read(session: Session, row: GrantProposal) -> ProposalRead:
    return ProposalRead(
        id=row.id,
        kind=ProposalKind(row.kind),
        subject=row.subject,
        details=_public(json.loads(row.payload)),
        status=ProposalStatus(row.status),
        proposed_by=_name(session, row.proposed_by) or "",
        proposed_at=as_utc(row.proposed_at),
        expires_at=as_utc(row.expires_at),
        decided_by=_name(session, row.decided_by),
        decided_at=as_utc(row.decided_at) if row.decided_at else None,
    )
