"""Scheduled legal work: deadline and validation alerts, preservation expiry, and the
user notifications that wait for confidentiality to end."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc
from rempart.core.deps import Runtime
from rempart.core.notify import Notifier
from rempart.legal import acting, acts, events, reviews
from rempart.legal.models import Authority, Notification, Order
from rempart.legal.notifier import UserNotice
from rempart.legal.schemas import OPEN_STATUSES, Confirmation, OrderStatus
from rempart.legal.trail import audit_order
from rempart.notify import service as notify
from rempart.platform import actions as platform_actions

ACTOR = "system:worker"


def flag_overdue(session: Session, *, now: datetime) -> int:
    """Raise an alert, once, for each open order past its deadline."""
    late = session.execute(
        select(Order).where(
            Order.status.in_([s.value for s in OPEN_STATUSES]),
            Order.due_at < now,
            Order.overdue_flagged_at.is_(None),
        )
    ).scalars()
    count = 0
    for order in late:
        order.overdue_flagged_at = now
        audit_order(
            session,
            order,
            events.OrderOverdue(due_at=as_utc(order.due_at).isoformat(), emergency=order.emergency),
            actor=ACTOR,
        )
        count += 1
    return count


def flag_unvalidated(session: Session, *, now: datetime) -> int:
    """Police emergency orders whose judicial validation did not come within 48 hours."""
    late = session.execute(
        select(Order).where(
            Order.validation_due_at < now,
            Order.validated_at.is_(None),
            Order.validation_flagged_at.is_(None),
            Order.status != OrderStatus.WITHDRAWN.value,
        )
    ).scalars()
    count = 0
    for order in late:
        order.validation_flagged_at = now
        audit_order(
            session,
            order,
            events.ValidationOverdue(validation_due_at=_iso(order.validation_due_at)),
            actor=ACTOR,
        )
        reviews.flag_unconfirmed(
            session, order=order, reason="validation_missing", disclosed=_disclosed(order)
        )
        count += 1
    return count


def flag_unconfirmed(session: Session, *, now: datetime) -> int:
    """Emergency orders that went ahead on one review and got no second within 24 hours."""
    late = session.execute(
        select(Order).where(
            Order.confirmation == Confirmation.PENDING.value,
            Order.second_review_due_at < now,
        )
    ).scalars()
    count = 0
    for order in late:
        order.confirmation = Confirmation.NOT_CONFIRMED.value
        order.confirmation_flagged_at = now
        reviews.flag_unconfirmed(
            session, order=order, reason="second_review_missing", disclosed=_disclosed(order)
        )
        count += 1
    return count


def _disclosed(order: Order) -> bool:
    return order.status in (OrderStatus.DISCLOSED, OrderStatus.CLOSED)


def expire_preservations(session: Session, *, now: datetime) -> int:
    ended = session.execute(
        select(Order).where(
            Order.status == OrderStatus.PRESERVED.value, Order.hold_expires_at <= now
        )
    ).scalars()
    count = 0
    for order in ended:
        order.status = OrderStatus.CLOSED.value
        order.closed_at = now
        audit_order(
            session, order, events.HoldExpired(expired_at=_iso(order.hold_expires_at)), actor=ACTOR
        )
        count += 1
    return count


def _disclosure_notice_texts(
    order: Order, authority: Authority, *, now: datetime
) -> tuple[str, str]:
    day = as_utc(order.effected_at or now).date().isoformat()
    return (
        f"On {day} we disclosed your account's phone number and/or the IP "
        f"addresses it connected from to {authority.name} ({authority.country}), "
        f"in answer to a judicial order (reference {order.reference}). We never "
        "disclose message content.",
        f"Le {day}, nous avons communiqué le numéro de téléphone de votre compte "
        f"et/ou les adresses IP de connexion à {authority.name} "
        f"({authority.country}), en réponse à une décision judiciaire (référence "
        f"{order.reference}). Nous ne communiquons jamais le contenu des messages.",
    )


def send_notifications(session: Session, *, notifier: Notifier, now: datetime) -> int:
    """Send the notices that are due, then close orders with nothing left to send."""
    due = session.execute(
        select(Notification, Order, Authority)
        .join(Order, Order.id == Notification.order_id)
        .join(Authority, Authority.id == Order.authority_id)
        .where(Notification.sent_at.is_(None), Notification.due_at <= now)
        .order_by(Notification.id)
    ).all()
    touched: dict[int, Order] = {}
    for notification, order, authority in due:
        if acts.is_order_to_act(order):
            text_en, text_fr = acting.owner_notice_texts(order, authority)
        else:
            text_en, text_fr = _disclosure_notice_texts(order, authority, now=now)
        notice = UserNotice(
            notification_id=notification.id,
            user_id=notification.user_id,
            order_reference=order.reference,
            text_en=text_en,
            text_fr=text_fr,
        )
        notify.send(session, notifier, notice.message(), actor=ACTOR, now=now)
        notification.sent_at = now
        audit_order(
            session, order, events.NotificationSent(notification=notification.id), actor=ACTOR
        )
        touched[order.id] = order
    session.flush()
    for order in touched.values():
        waiting = session.execute(
            select(Notification.id).where(
                Notification.order_id == order.id, Notification.sent_at.is_(None)
            )
        ).first()
        if waiting is None and order.status == OrderStatus.DISCLOSED.value:
            order.status = OrderStatus.CLOSED.value
            order.closed_at = now
            audit_order(session, order, events.OrderClosed(), actor=ACTOR)
    return len(due)


def run_deadlines(session: Session, rt: Runtime, *, now: datetime | None = None) -> None:
    now = now or rt.now()
    flag_overdue(session, now=now)
    flag_unvalidated(session, now=now)
    flag_unconfirmed(session, now=now)
    expire_preservations(session, now=now)
    send_notifications(session, notifier=rt.notifier, now=now)


def execute_order_to_act(session: Session, rt: Runtime, payload: dict[str, Any]) -> None:
    """The worker's job: carry out a removal order (at once) or a confirmed order to act."""
    order = session.get(Order, int(payload["order"]))
    if order is None:
        return
    acting.execute(
        session,
        order=order,
        actions=rt.port(platform_actions.PORT),
        keys=rt.keys,
        notifier=rt.notifier,
        now=rt.now(),
    )


JOB_HANDLERS = {acts.EXECUTE_JOB: execute_order_to_act}


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment is not None else None
