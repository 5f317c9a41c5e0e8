"""Escalate, read, confirm (and send) or decline a threat-to-life notification.

Every function flushes and never commits; each state change and each read of the
prepared notification is audited in the caller's transaction. The audit entries name the
escalation and the item, never the account's phone number or addresses (the audit guard
would refuse them anyway)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth.models import Principal
from rempart.auth.service import Caller
from rempart.core.clock import as_utc, now_of
from rempart.core.crypto import KeyRing
from rempart.core.encrypted import register_encrypted_column
from rempart.core.settings import Settings
from rempart.escalations import events, notification
from rempart.escalations.exceptions import (
    AlreadyEscalated,
    EscalationDecided,
    EscalationNotFound,
    NotEscalable,
    OwnEscalation,
)
from rempart.escalations.models import ThreatEscalation
from rempart.escalations.schemas import (
    EscalationCreate,
    EscalationPage,
    EscalationRead,
    EscalationState,
    NotificationRead,
)
from rempart.legal.notifier import ThreatToLifeNotice
from rempart.moderation.models import ModerationItem

PURPOSE = "escalations.notification"
ACTOR = "system:escalations"


def _target(escalation: ThreatEscalation) -> str:
    return f"escalation:{escalation.reference}"


def _get(session: Session, reference: str, *, lock: bool = False) -> ThreatEscalation:
    query = select(ThreatEscalation).where(ThreatEscalation.reference == reference)
    if lock:
        query = query.with_for_update()
    escalation = session.execute(query).scalar_one_or_none()
    if escalation is None:
        raise EscalationNotFound("No escalation has this reference.")
    return escalation


def escalate(
    session: Session,
    *,
    keys: KeyRing,
    settings: Settings,
    caller: Caller,
    data: EscalationCreate,
) -> EscalationRead:
    """Prepare the notification at once: a threat to life does not wait for a queue."""
    now = now_of(session)
    # Locked: two moderators escalating the same item at once are served one after the
    # other, and the second finds the first's escalation below (on SQLite the write lock
    # serialises them already).
    item = session.get(ModerationItem, data.item_id, with_for_update=True)
    if item is None:
        raise NotEscalable("No moderation item has this id.")
    open_one = session.execute(
        select(ThreatEscalation.reference).where(
            ThreatEscalation.item_id == item.id,
            ThreatEscalation.state == EscalationState.PREPARED.value,
        )
    ).first()
    if open_one is not None:
        raise AlreadyEscalated(
            "This item already has an escalation waiting for a legal reviewer.",
            reference=open_one[0],
        )
    account = notification.account_of(session, item=item)
    to = notification.recipient(
        session,
        victim_country=data.victim_country,
        account=account,
        establishment=settings.establishment_country,
    )
    escalation = ThreatEscalation(
        # Unique until the id gives it its real reference, a few lines down.
        reference=uuid.uuid4().hex,
        item_id=item.id,
        member_state=to.member_state,
        member_state_basis=to.basis,
        recipient=to.recipient,
        payload_ciphertext=b"",
        state=EscalationState.PREPARED.value,
        escalated_by=caller.principal_id,
        escalated_at=now,
    )
    session.add(escalation)
    session.flush()
    escalation.reference = f"A18-{now:%Y}-{escalation.id:06d}"
    payload = notification.build(
        session,
        keys=keys,
        settings=settings,
        reference=escalation.reference,
        item=item,
        to=to,
        explanation=data.explanation,
        victim_country=data.victim_country,
        now=now,
    )
    escalation.payload_ciphertext = keys.encrypt(
        json.dumps(payload, sort_keys=True, ensure_ascii=False), purpose=PURPOSE
    )
    session.flush()
    audit.record(
        session,
        events.ThreatEscalated(
            item=f"{item.kind}:{item.ref}", recipient=to.recipient, member_state_basis=to.basis
        ),
        actor=caller.actor,
        target=_target(escalation),
        country=to.member_state,
    )
    return _read(session, escalation)


def read_notification(
    session: Session, *, keys: KeyRing, caller: Caller, reference: str
) -> NotificationRead:
    """The prepared notification with the account's personal data: a read that is
    audited, as every read of personal data is."""
    escalation = _get(session, reference)
    audit.record(
        session,
        events.NotificationRead(state=escalation.state),
        actor=caller.actor,
        target=_target(escalation),
        country=escalation.member_state,
    )
    return NotificationRead(
        reference=escalation.reference,
        recipient=escalation.recipient,
        member_state=escalation.member_state,
        state=EscalationState(escalation.state),
        notification=_payload(keys, escalation),
    )


def _payload(keys: KeyRing, escalation: ThreatEscalation) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(keys.decrypt(escalation.payload_ciphertext, purpose=PURPOSE))
    return value


def _decidable(session: Session, caller: Caller, reference: str) -> ThreatEscalation:
    escalation = _get(session, reference, lock=True)
    if escalation.escalated_by == caller.principal_id:
        raise OwnEscalation(
            "You escalated this item: another legal reviewer confirms its notification."
        )
    if escalation.state != EscalationState.PREPARED.value:
        raise EscalationDecided(f"This escalation is already {escalation.state}.")
    return escalation


def confirm(session: Session, *, caller: Caller, reference: str) -> EscalationRead:
    """Confirm: the notification is queued for the worker, which sends it through the
    authority notifier outside any write transaction and records it sent in a second
    short one (``tasks.py``). Four eyes hold here, not at the send."""
    escalation = _decidable(session, caller, reference)
    escalation.state = EscalationState.CONFIRMED.value
    escalation.decided_by = caller.principal_id
    escalation.decided_at = now_of(session)
    session.flush()
    audit.record(
        session,
        events.NotificationConfirmed(recipient=escalation.recipient),
        actor=caller.actor,
        target=_target(escalation),
        country=escalation.member_state,
    )
    return _read(session, escalation)


@dataclass(frozen=True)
class Outgoing:
    """A confirmed notification as the worker sends it, read in a short transaction."""

    escalation_id: int
    notices: list[ThreatToLifeNotice]


def to_send(session: Session, keys: KeyRing, *, limit: int) -> list[Outgoing]:
    """The confirmed notifications, decrypted for the notifier: one notice per recipient
    (the Member State's authority, and Europol beside it under Art. 18(2))."""
    rows = session.execute(
        select(ThreatEscalation)
        .where(ThreatEscalation.state == EscalationState.CONFIRMED.value)
        .order_by(ThreatEscalation.id)
        .limit(limit)
    ).scalars()
    outgoing = []
    for escalation in rows:
        body = _payload(keys, escalation)
        recipients = [escalation.recipient] + [c["id"] for c in body.get("copies", [])]
        outgoing.append(
            Outgoing(
                escalation.id,
                [
                    ThreatToLifeNotice(
                        reference=escalation.reference,
                        recipient=to,
                        member_state=escalation.member_state,
                        body=body,
                    )
                    for to in recipients
                ],
            )
        )
    return outgoing


def record_sent(session: Session, *, escalation_id: int, recipients: list[str]) -> bool:
    """After the send: sent, audited and counted. False when someone else recorded it."""
    escalation = session.get(ThreatEscalation, escalation_id, with_for_update=True)
    if escalation is None or escalation.state != EscalationState.CONFIRMED.value:
        return False
    now = now_of(session)
    escalation.state = EscalationState.SENT.value
    escalation.sent_at = now
    session.flush()
    hours = (now - as_utc(escalation.escalated_at)).total_seconds() / 3600
    audit.record(
        session,
        events.NotificationSent(
            recipient=escalation.recipient,
            copies=recipients[1:],
            member_state=escalation.member_state or "none",
            hours_to_send=round(hours, 3),
        ),
        actor=ACTOR,
        target=_target(escalation),
        country=escalation.member_state,
    )
    return True


def decline(session: Session, *, caller: Caller, reference: str, reason: str) -> EscalationRead:
    """The reviewer finds no suspicion of a threat to life: nothing is sent, and why is kept."""
    escalation = _decidable(session, caller, reference)
    escalation.state = EscalationState.DECLINED.value
    escalation.decided_by = caller.principal_id
    escalation.decided_at = now_of(session)
    escalation.decline_reason = reason
    session.flush()
    audit.record(
        session,
        events.ThreatDeclined(),
        actor=caller.actor,
        target=_target(escalation),
        country=escalation.member_state,
    )
    return _read(session, escalation)


def get(session: Session, *, reference: str) -> EscalationRead:
    return _read(session, _get(session, reference))


def list_escalations(
    session: Session, *, state: EscalationState | None, limit: int, offset: int
) -> EscalationPage:
    query = select(ThreatEscalation)
    count = select(func.count()).select_from(ThreatEscalation)
    if state is not None:
        query = query.where(ThreatEscalation.state == state.value)
        count = count.where(ThreatEscalation.state == state.value)
    rows = list(
        session.execute(
            query.order_by(ThreatEscalation.id.desc()).limit(limit).offset(offset)
        ).scalars()
    )
    return EscalationPage(
        items=[_read(session, e) for e in rows], total=session.execute(count).scalar_one()
    )


def _read(session: Session, escalation: ThreatEscalation) -> EscalationRead:
    item = session.get(ModerationItem, escalation.item_id)
    ids = {escalation.escalated_by, escalation.decided_by} - {None}
    names = dict(
        session.execute(select(Principal.id, Principal.name).where(Principal.id.in_(ids))).all()
    )
    return EscalationRead(
        reference=escalation.reference,
        item_id=escalation.item_id,
        item=f"{item.kind}:{item.ref}" if item else "",
        member_state=escalation.member_state,
        member_state_basis=escalation.member_state_basis,
        recipient=escalation.recipient,
        state=EscalationState(escalation.state),
        escalated_by=names.get(escalation.escalated_by, ""),
        escalated_at=as_utc(escalation.escalated_at),
        decided_by=names.get(escalation.decided_by) if escalation.decided_by else None,
        decided_at=as_utc(escalation.decided_at) if escalation.decided_at else None,
        decline_reason=escalation.decline_reason,
        sent_at=as_utc(escalation.sent_at) if escalation.sent_at else None,
    )


register_encrypted_column(
    ThreatEscalation, ThreatEscalation.id, ThreatEscalation.payload_ciphertext, PURPOSE
)
