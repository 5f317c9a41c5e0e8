"""Orders whose authority lost the platform's trust after intake.

When an authority is suspended, or a key that signed one of its orders is revoked, its
orders still in progress go on hold: reviewers may go on analysing them, but nothing is
released or downloaded until the authority is reinstated. A revoked key is never
reinstated; its orders stay held, and the authority sends them again with a valid key.
The flag is what people see; ``ensure_not_on_hold`` checks the registry itself at the
moment of release or download, so a missed flag cannot let data out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.audit.events import AuditEvent
from rempart.core import jobs
from rempart.core.clock import now_of
from rempart.legal import events
from rempart.legal.exceptions import OrderOnHold
from rempart.legal.models import Authority, AuthorityKey, Order, OrderAct
from rempart.legal.schemas import (
    OPEN_STATUSES,
    ORDER_TYPES_TO_ACT,
    AuthorityStatus,
    OnHoldReason,
    OrderStatus,
    OrderType,
)

# Orders something could still leave for: open, preserved, or released and downloadable.
HOLDABLE = frozenset({*OPEN_STATUSES, OrderStatus.PRESERVED, OrderStatus.DISCLOSED})


def current_reason(session: Session, *, order: Order) -> OnHoldReason | None:
    """Why the registry, as it stands now, forbids anything to leave for this order."""
    key = session.execute(
        select(AuthorityKey).where(AuthorityKey.kid == order.kid)
    ).scalar_one_or_none()
    if key is None or key.revoked_at is not None:
        return OnHoldReason.KEY_REVOKED
    authority = session.get(Authority, order.authority_id)
    if authority is None or authority.status == AuthorityStatus.SUSPENDED:
        return OnHoldReason.AUTHORITY_SUSPENDED
    return None


def ensure_not_on_hold(session: Session, *, order: Order) -> None:
    reason = current_reason(session, order=order)
    if reason is not None:
        raise OrderOnHold(
            "This order is on hold: its authority is suspended or the key that signed it "
            "was revoked. Review may continue; release and download wait for reinstatement.",
            reason=reason.value,
        )


def _audit(session: Session, order: Order, event: AuditEvent, *, actor: str) -> None:
    audit.record(
        session, event, actor=actor, target=f"order:{order.reference}", country=order.country
    )


def _requeue_order_to_act(session: Session, *, order: Order) -> None:
    """An order to act held back by a suspension goes ahead once the hold is lifted."""
    # Imported here: acts reaches this module through orders and the registry.
    from rempart.legal.acts import EXECUTE_JOB

    if order.order_type not in ORDER_TYPES_TO_ACT or order.status != OrderStatus.CHECKS_PASSED:
        return
    act = session.get(OrderAct, order.id)
    if act is None or (order.order_type == OrderType.ACT and act.confirmed_at is None):
        return
    jobs.enqueue(session, kind=EXECUTE_JOB, payload={"order": order.id})


def refresh_holds(session: Session, *, authority_id: int, actor: str) -> None:
    """Bring every holdable order of the authority in line with the registry."""
    now: datetime = now_of(session)
    orders = session.execute(
        select(Order).where(
            Order.authority_id == authority_id,
            Order.status.in_([s.value for s in HOLDABLE]),
        )
    ).scalars()
    for order in orders:
        reason = current_reason(session, order=order)
        if reason is None and order.on_hold_reason is not None:
            _audit(session, order, events.OrderHoldLifted(reason=order.on_hold_reason), actor=actor)
            order.on_hold_reason = order.on_hold_since = None
            _requeue_order_to_act(session, order=order)
        elif reason is not None and order.on_hold_reason != reason.value:
            order.on_hold_reason = reason.value
            order.on_hold_since = order.on_hold_since or now
            _audit(session, order, events.OrderPutOnHold(reason=reason.value), actor=actor)
    session.flush()
