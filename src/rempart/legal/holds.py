"""Legal holds: the records an order keeps from retention's purge.

A preservation order holds its targets' records for 60 days, once extensible by 30; a
production order holds them until its deadline plus a margin, so that a late answer still
finds data; the production order that follows a preservation takes over its holds. Every
hold ends with its order: refused, withdrawn, disclosed or closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc, now_of
from rempart.legal import events
from rempart.legal.exceptions import InvalidTransition
from rempart.legal.models import Authority, Order
from rempart.legal.schemas import OrderClaims, OrderStatus, OrderType
from rempart.legal.trail import audit_order
from rempart.platform.models import LegalHold

PRESERVATION_PERIOD = timedelta(days=60)
PRESERVATION_EXTENSION = timedelta(days=30)
# A production order's own hold outlives its deadline, so a late answer still finds data.
PRODUCTION_HOLD_MARGIN = timedelta(days=30)


def preservation_of(session: Session, *, issuer: Authority, claims: OrderClaims) -> Order | None:
    """The issuer's own preservation order that this production order follows, if any."""
    if not claims.preservation_reference:
        return None
    preservation: Order | None = session.execute(
        select(Order).where(
            Order.reference == claims.preservation_reference,
            Order.authority_id == issuer.id,
            Order.order_type == OrderType.PRESERVATION.value,
        )
    ).scalar_one_or_none()
    return preservation


def holds_all(session: Session, *, preservation: Order | None, users: list[str]) -> bool:
    """Vacuously true when no target was found: whether one was must not change a check
    the authority sees before any human looked."""
    if preservation is None or preservation.status != OrderStatus.PRESERVED.value:
        return False
    if not users:
        return True
    held = session.execute(
        select(func.count(func.distinct(LegalHold.user_id))).where(
            LegalHold.reference == preservation.reference,
            LegalHold.user_id.in_(users),
            LegalHold.expires_at > now_of(session),
        )
    ).scalar_one()
    return bool(held == len(set(users)))


def place_holds(session: Session, *, order: Order, user_ids: list[str], now: datetime) -> None:
    if order.order_type == OrderType.PRESERVATION.value:
        expires = now + PRESERVATION_PERIOD
        order.status = OrderStatus.PRESERVED.value
        order.hold_expires_at = expires
        order.effected_at = now
    else:
        expires = order.due_at + PRODUCTION_HOLD_MARGIN
    for user_id in sorted(set(user_ids)):
        session.add(
            LegalHold(
                user_id=user_id,
                period_start=order.period_start,
                period_end=order.period_end,
                expires_at=expires,
                reference=order.reference,
                created_at=now,
            )
        )
    if user_ids:
        audit_order(
            session,
            order,
            events.HoldPlaced(accounts=len(set(user_ids)), expires_at=expires.isoformat()),
            actor="system:checks",
        )


def release_holds(session: Session, *, order: Order, now: datetime) -> None:
    holds = session.execute(
        select(LegalHold).where(LegalHold.reference == order.reference, LegalHold.expires_at > now)
    ).scalars()
    released = 0
    for hold in holds:
        hold.expires_at = now
        released += 1
    if released:
        audit_order(session, order, events.HoldReleased(holds=released), actor="system:legal")


def extend_preservation(session: Session, *, order: Order, actor: str) -> Order:
    if order.status != OrderStatus.PRESERVED or order.hold_expires_at is None:
        raise InvalidTransition("Only a preservation in effect can be extended.")
    if order.hold_extended:
        raise InvalidTransition("A preservation can be extended once, by 30 days.")
    expires = as_utc(order.hold_expires_at) + PRESERVATION_EXTENSION
    order.hold_expires_at = expires
    order.hold_extended = True
    for hold in session.execute(
        select(LegalHold).where(LegalHold.reference == order.reference)
    ).scalars():
        hold.expires_at = expires
    audit_order(session, order, events.HoldExtended(expires_at=expires.isoformat()), actor=actor)
    return order
