"""The authority's follow-ups on an order it submitted: withdrawing it, and the judicial
validation a police emergency order needs within 48 hours."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc, now_of
from rempart.legal import events, holds, validations
from rempart.legal.exceptions import ExpiredOrder, InvalidTransition, MalformedOrder
from rempart.legal.models import Authority, Order
from rempart.legal.schemas import OPEN_STATUSES, OrderStatus, ValidationClaims
from rempart.legal.trail import audit_order


def withdraw(session: Session, *, order: Order, actor: str) -> Order:
    if order.status not in OPEN_STATUSES and order.status != OrderStatus.PRESERVED:
        raise InvalidTransition(f"An order that is {order.status} can no longer be withdrawn.")
    now = now_of(session)
    order.status = OrderStatus.WITHDRAWN.value
    order.withdrawn_at = order.closed_at = now
    holds.release_holds(session, order=order, now=now)
    audit_order(session, order, events.OrderWithdrawn(), actor=actor)
    return order


def validate_emergency(session: Session, *, order: Order, token: str, actor: str) -> Order:
    """Record the judicial validation that a police emergency order needs within 48 hours."""
    now = now_of(session)
    if not order.emergency or order.validation_due_at is None:
        raise InvalidTransition("This order awaits no judicial validation.")
    if order.validated_at is not None:
        raise InvalidTransition("This order was already validated.")
    key, payload = validations.signed_by(session, token=token, now=now)
    try:
        claims = ValidationClaims.model_validate(payload)
    except ValidationError:
        raise MalformedOrder(
            "The validation's claims are not valid.", code="invalid_claims"
        ) from None
    judge = key.authority
    issuer = session.get(Authority, order.authority_id)
    assert issuer is not None
    problem = validations.validator_problem(judge, issuer)
    if claims.iss != judge.code or claims.validates != order.reference or problem:
        raise MalformedOrder(
            "A validation must be signed by the verified judicial authority registered as "
            "the issuer's parent, and name this order.",
            code=problem or "invalid_validation",
        )
    if datetime.fromtimestamp(claims.exp, UTC) <= now:
        raise ExpiredOrder("The signed validation has expired (exp).")
    order.validated_at = now
    order.validation_kid = key.kid
    order.validating_authority_id = judge.id
    audit_order(
        session,
        order,
        events.OrderValidated(
            validating_authority=judge.code, kid=key.kid, late=now > as_utc(order.validation_due_at)
        ),
        actor=actor,
    )
    return order
