"""Reading orders: an authority its own, legal reviewers all of them (an audited read
of personal data, which also marks the order acknowledged)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.auth.models import Principal
from rempart.auth.permissions import Role
from rempart.auth.service import Caller
from rempart.core.clock import as_utc, utcnow
from rempart.core.crypto import KeyRing
from rempart.legal import authorities
from rempart.legal.exceptions import (
    OrderNotFound,
)
from rempart.legal.models import Authority, Order, OrderDocument
from rempart.legal.orders import DOCUMENT_PURPOSE, TARGET_PURPOSE, audit_order
from rempart.legal.schemas import (
    OPEN_STATUSES,
    CheckRead,
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
) -> OrderPage:
    now = utcnow()
    query = select(Order)
    if authority_id is not None:
        query = query.where(Order.authority_id == authority_id)
    if status is not None:
        query = query.where(Order.status == status.value)
    if due_before is not None:
        query = query.where(Order.due_at < due_before)
    if overdue is not None:
        late = Order.status.in_([s.value for s in OPEN_STATUSES]) & (Order.due_at < now)
        query = query.where(late if overdue else ~late)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(Order.due_at, Order.id).limit(limit).offset(offset)
    ).scalars()
    codes = {id_: code for id_, code in session.execute(select(Authority.id, Authority.code))}
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
            )
            for o in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


def read_document(
    session: Session, *, keys: KeyRing, order: Order, actor: str
) -> tuple[bytes, str]:
    stored = session.get(OrderDocument, order.id)
    if stored is None:
        raise OrderNotFound("This order has no document.")
    audit_order(session, order, actor=actor, action="legal.order.document.read", details={})
    return keys.decrypt_bytes(stored.ciphertext, purpose=DOCUMENT_PURPOSE), stored.media_type


def view_order(session: Session, *, keys: KeyRing, caller: Caller, reference: str) -> OrderRead:
    """An authority sees its own order and the outcome; a legal reviewer sees everything,
    the targets' identifiers included, and that read is audited."""
    order = own_order(session, caller=caller, reference=reference)
    reviewer = caller.role is not Role.AUTHORITY
    if reviewer:
        now = utcnow()
        if order.acknowledged_at is None:
            order.acknowledged_at = now
        audit_order(session, order, actor=caller.actor, action="legal.order.read", details={})
    return to_read(session, order, keys=keys if reviewer else None)


def to_read(session: Session, order: Order, *, keys: KeyRing | None) -> OrderRead:
    """The order as the API shows it; with ``keys`` (reviewers only) the full view."""
    authority = session.get(Authority, order.authority_id)
    assert authority is not None
    reviewer = keys is not None
    reviewer_ids = [r.reviewer_id for r in order.reviews] if reviewer else []
    names = {
        id_: name
        for id_, name in session.execute(
            select(Principal.id, Principal.name).where(Principal.id.in_(reviewer_ids))
        )
    }
    return OrderRead(
        reference=order.reference,
        authority=authority.code,
        country=order.country,
        order_type=OrderType(order.order_type),
        status=OrderStatus(order.status),
        case_reference=order.case_reference,
        offence_category=order.offence_category,
        requested_categories=order.requested_categories,
        category_outcomes=order.category_outcomes,
        period_start=as_utc(order.period_start),
        period_end=as_utc(order.period_end),
        emergency=order.emergency,
        confidential_until=_utc(order.confidential_until),
        received_at=as_utc(order.received_at),
        due_at=as_utc(order.due_at),
        overdue=is_overdue(order, utcnow()),
        acknowledged_at=_utc(order.acknowledged_at),
        decided_at=_utc(order.decided_at),
        effected_at=_utc(order.effected_at),
        withdrawn_at=_utc(order.withdrawn_at),
        validation_due_at=_utc(order.validation_due_at),
        validated_at=_utc(order.validated_at),
        hold_expires_at=_utc(order.hold_expires_at),
        refusal=Refusal.model_validate(order.refusal) if order.refusal else None,
        targets=[
            TargetRead(
                position=t.position,
                kind=TargetKind(t.kind),
                resolution=t.resolution,
                value=keys.decrypt(t.value_ciphertext, purpose=TARGET_PURPOSE) if keys else None,
                protected_category=t.protected_category if reviewer else None,
                approved=t.approved,
            )
            for t in order.targets
        ],
        checks=[CheckRead.model_validate(c) for c in order.checks],
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
    )


def _utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None
