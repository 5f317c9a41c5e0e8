"""Reading orders: an authority its own, legal reviewers all of them.

A reviewer's view decrypts the targets' identifiers, so every route that returns it goes
through ``reviewer_view``, which audits the read. An authority's view carries nothing the
automatic checks learnt about its targets: until a human decided, whether an identifier
has an account is the platform's to know, not the requester's."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from rempart.auth.models import Principal
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.clock import as_utc, now_of
from rempart.core.crypto import KeyRing
from rempart.legal import acts, authorities, callbacks, events
from rempart.legal.exceptions import (
    OrderNotFound,
)
from rempart.legal.models import Authority, Callback, Order, OrderDocument
from rempart.legal.orders import DOCUMENT_PURPOSE, TARGET_PURPOSE
from rempart.legal.schemas import (
    OPEN_STATUSES,
    ActOutcome,
    AlertKind,
    CallbackOutcome,
    CallbackRead,
    CheckRead,
    Confirmation,
    EmergencyGround,
    OnHoldReason,
    OrderAlert,
    OrderPage,
    OrderRead,
    OrderStatus,
    OrderSummary,
    OrderType,
    Refusal,
    ReviewDecision,
    ReviewRead,
    RiskFlag,
    TargetKind,
    TargetRead,
)
from rempart.legal.trail import audit_order


def get_order(session: Session, *, reference: str, authority_id: int | None) -> Order:
    """The order; an authority (``authority_id`` given) finds only its own."""
    query = select(Order).where(Order.reference == reference)
    if authority_id is not None:
        query = query.where(Order.authority_id == authority_id)
    order = session.execute(query).scalar_one_or_none()
    if order is None:
        raise OrderNotFound("No such order.")
    return order


def own_order(session: Session, *, caller: Caller, reference: str) -> Order:
    """The order as this caller may reach it: an authority only its own."""
    return get_order(
        session, reference=reference, authority_id=caller_authority_id(session, caller=caller)
    )


def caller_authority_id(session: Session, *, caller: Caller) -> int | None:
    """The authority a caller acts for, or None for platform staff."""
    if caller.role is not Role.AUTHORITY:
        return None
    authority = authorities.authority_of_principal(session, principal_id=caller.principal_id)
    # An authority principal with no registry entry sees nothing rather than everything.
    return authority.id if authority is not None else -1


def is_overdue(order: Order, now: datetime) -> bool:
    return order.status in OPEN_STATUSES and as_utc(order.due_at) < now


def list_orders(
    session: Session,
    *,
    authority_id: int | None,
    status: OrderStatus | None,
    due_before: datetime | None,
    overdue: bool | None,
    limit: int,
    offset: int,
    issuer: str | None = None,
    country: str | None = None,
    order_types: Collection[str] | None = None,
) -> OrderPage:
    """Orders that need action first (open ones, soonest due, emergencies before others
    due at the same time), then closed ones, most recent first. ``authority_id`` scopes an
    authority to its own; ``issuer`` is a reviewer's filter by authority code."""
    now = now_of(session)
    query = select(Order)
    if authority_id is not None:
        query = query.where(Order.authority_id == authority_id)
    if issuer is not None:
        query = query.join(Authority, Authority.id == Order.authority_id).where(
            Authority.code == issuer
        )
    if country is not None:
        query = query.where(Order.country == country.upper())
    if order_types is not None:
        query = query.where(Order.order_type.in_(list(order_types)))
    if status is not None:
        query = query.where(Order.status == status.value)
    if due_before is not None:
        query = query.where(Order.due_at < due_before)
    if overdue is not None:
        late = Order.status.in_([s.value for s in OPEN_STATUSES]) & (Order.due_at < now)
        query = query.where(late if overdue else ~late)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    is_open = Order.status.in_([s.value for s in OPEN_STATUSES])
    rows = session.execute(
        query.order_by(
            case((is_open, 0), else_=1),
            case((is_open, Order.due_at)),
            Order.emergency.desc(),
            Order.due_at.desc(),
            Order.id,
        )
        .limit(limit)
        .offset(offset)
    ).scalars()
    codes = {id_: code for id_, code in session.execute(select(Authority.id, Authority.code))}
    found = list(rows)
    outcomes = acts.outcomes_of(session, order_ids=[o.id for o in found])
    return OrderPage(
        items=[
            OrderSummary(
                reference=o.reference,
                authority=codes[o.authority_id],
                country=o.country,
                order_type=OrderType(o.order_type),
                status=OrderStatus(o.status),
                emergency=o.emergency,
                received_at=as_utc(o.received_at),
                due_at=as_utc(o.due_at),
                overdue=is_overdue(o, now),
                targets=len(o.targets),
                on_hold=_enum(OnHoldReason, o.on_hold_reason),
                confirmation=_enum(Confirmation, o.confirmation),
                act_outcome=_enum(ActOutcome, outcomes.get(o.id)),
            )
            for o in found
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


def authority_countries(session: Session) -> list[str]:
    """The countries with a registered authority: the public transparency page's choices."""
    return sorted(session.execute(select(Authority.country).distinct()).scalars())


def issuer_codes(session: Session) -> list[str]:
    """The codes of authorities that have sent orders, for a reviewer's filter."""
    query = select(Authority.code).join(Order, Order.authority_id == Authority.id).distinct()
    return sorted(session.execute(query).scalars())


def alerts(session: Session) -> list[OrderAlert]:
    """What legal reviewers and admins must act on, most urgent kinds first."""
    now = now_of(session)
    codes = {id_: code for id_, code in session.execute(select(Authority.id, Authority.code))}
    open_values = [s.value for s in OPEN_STATUSES]
    candidates = session.execute(
        select(Order).where(
            or_(
                Order.status.in_(open_values) & (Order.due_at < now),
                Order.confirmation.is_not(None),
                Order.validation_flagged_at.is_not(None),
                Order.on_hold_reason.is_not(None),
                Order.callbacks.any(Callback.outcome == CallbackOutcome.DENIED.value),
            )
        )
    ).scalars()
    found: list[OrderAlert] = []
    for order in candidates:
        raised: list[tuple[AlertKind, datetime, datetime | None]] = []
        if order.confirmation == Confirmation.NOT_CONFIRMED and order.confirmation_flagged_at:
            raised.append((AlertKind.EMERGENCY_NOT_CONFIRMED, order.confirmation_flagged_at, None))
        elif order.confirmation == Confirmation.PENDING and order.decided_at:
            raised.append(
                (AlertKind.SECOND_REVIEW_DUE, order.decided_at, order.second_review_due_at)
            )
        if order.validation_flagged_at and order.validated_at is None:
            raised.append((AlertKind.VALIDATION_OVERDUE, order.validation_flagged_at, None))
        if order.on_hold_reason and order.on_hold_since:
            raised.append((AlertKind.ON_HOLD, order.on_hold_since, None))
        denied = [c for c in order.callbacks if c.outcome == CallbackOutcome.DENIED]
        if denied:
            raised.append((AlertKind.CALLBACK_DENIED, denied[0].created_at, None))
        if is_overdue(order, now):
            raised.append((AlertKind.OVERDUE, order.due_at, order.due_at))
        found += [
            OrderAlert(
                reference=order.reference,
                authority=codes[order.authority_id],
                country=order.country,
                kind=kind,
                since=as_utc(since),
                due_at=as_utc(due) if due else None,
            )
            for kind, since, due in raised
        ]
    priority = list(AlertKind)
    return sorted(found, key=lambda a: (priority.index(a.kind), a.due_at or a.since))


def read_document(
    session: Session, *, keys: KeyRing, order: Order, actor: str
) -> tuple[bytes, str]:
    stored = session.get(OrderDocument, order.id)
    if stored is None:
        raise OrderNotFound("This order has no document.")
    audit_order(session, order, events.OrderDocumentRead(), actor=actor)
    return keys.decrypt_bytes(stored.ciphertext, purpose=DOCUMENT_PURPOSE), stored.media_type


def view_order(session: Session, *, keys: KeyRing, caller: Caller, reference: str) -> OrderRead:
    """An authority sees its own order and the outcome; a legal reviewer sees everything,
    the targets' identifiers included, and that read is audited."""
    order = own_order(session, caller=caller, reference=reference)
    if caller.role is Role.AUTHORITY:
        return authority_view(session, order=order)
    if order.acknowledged_at is None:
        order.acknowledged_at = now_of(session)
    return reviewer_view(session, order=order, keys=keys, actor=caller.actor)


def authority_view(session: Session, *, order: Order) -> OrderRead:
    return _to_read(session, order=order, keys=None)


def reviewer_view(session: Session, *, order: Order, keys: KeyRing, actor: str) -> OrderRead:
    """The full view, decrypted identifiers included: an audited read of personal data."""
    audit_order(session, order, events.OrderRead(), actor=actor)
    return _to_read(session, order=order, keys=keys)


def _to_read(session: Session, *, order: Order, keys: KeyRing | None) -> OrderRead:
    """The order as the API shows it; with ``keys`` (reviewers only) the full view."""
    authority = session.get(Authority, order.authority_id)
    assert authority is not None
    reviewer = keys is not None
    reviewer_ids = [r.reviewer_id for r in order.reviews] if reviewer else []
    caller_ids = [c.caller_id for c in order.callbacks] if reviewer else []
    names = {
        id_: name
        for id_, name in session.execute(
            select(Principal.id, Principal.name).where(Principal.id.in_(reviewer_ids + caller_ids))
        )
    }
    validator = (
        session.get(Authority, order.validating_authority_id)
        if order.validating_authority_id
        else None
    )
    decided = order.decided_at is not None
    return OrderRead(
        reference=order.reference,
        authority=authority.code,
        country=order.country,
        order_type=OrderType(order.order_type),
        status=OrderStatus(order.status),
        case_reference=order.case_reference,
        offence_category=order.offence_category,
        legal_basis=order.legal_basis,
        requested_categories=order.requested_categories,
        category_outcomes=order.category_outcomes,
        period_start=as_utc(order.period_start),
        period_end=as_utc(order.period_end),
        emergency=order.emergency,
        emergency_ground=_enum(EmergencyGround, order.emergency_ground),
        validating_authority=validator.code if validator else None,
        confidential_until=_utc(order.confidential_until),
        received_at=as_utc(order.received_at),
        due_at=as_utc(order.due_at),
        overdue=is_overdue(order, now_of(session)),
        on_hold=_enum(OnHoldReason, order.on_hold_reason),
        on_hold_since=_utc(order.on_hold_since),
        acknowledged_at=_utc(order.acknowledged_at),
        decided_at=_utc(order.decided_at),
        effected_at=_utc(order.effected_at),
        withdrawn_at=_utc(order.withdrawn_at),
        validation_due_at=_utc(order.validation_due_at),
        validated_at=_utc(order.validated_at),
        validation_overdue=order.validation_flagged_at is not None,
        second_review_due_at=_utc(order.second_review_due_at),
        second_reviewed_at=_utc(order.second_reviewed_at),
        confirmation=_enum(Confirmation, order.confirmation),
        hold_expires_at=_utc(order.hold_expires_at),
        refusal=Refusal.model_validate(order.refusal) if order.refusal else None,
        targets=[
            TargetRead(
                position=t.position,
                kind=TargetKind(t.kind),
                resolution=t.resolution if reviewer else None,
                value=keys.decrypt(t.value_ciphertext, purpose=TARGET_PURPOSE) if keys else None,
                protected_category=t.protected_category if reviewer else None,
                approved=t.approved if reviewer or decided else None,
            )
            for t in order.targets
        ],
        checks=[CheckRead.model_validate(c) for c in order.checks] if reviewer else [],
        risk_flags=[RiskFlag.model_validate(f) for f in order.risk_flags] if reviewer else [],
        reviews=[
            ReviewRead(
                reviewer=names.get(r.reviewer_id, f"principal:{r.reviewer_id}"),
                decision=ReviewDecision(r.decision),
                approved_categories=r.approved_categories,
                approved_targets=r.approved_targets,
                checklist=r.checklist,
                reasons=r.reasons,
                refusal_grounds=r.refusal_grounds,
                risk_flags=[RiskFlag.model_validate(f) for f in r.risk_flags],
                created_at=as_utc(r.created_at),
            )
            for r in order.reviews
        ]
        if reviewer
        else [],
        callback_required=callbacks.reasons_for_callback(order) if reviewer else [],
        callbacks=[
            CallbackRead(
                caller=names.get(c.caller_id, f"principal:{c.caller_id}"),
                contact=c.contact,
                called_at=as_utc(c.called_at),
                person_reached=c.person_reached,
                outcome=CallbackOutcome(c.outcome),
                notes=c.notes,
                recorded_at=as_utc(c.created_at),
            )
            for c in order.callbacks
        ]
        if reviewer
        else [],
        act=acts.act_read(session, order=order, now=now_of(session))
        if acts.is_order_to_act(order)
        else None,
    )


def _utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


_E = TypeVar("_E", bound=StrEnum)


def _enum(kind: type[_E], value: str | None) -> _E | None:
    return kind(value) if value is not None else None
