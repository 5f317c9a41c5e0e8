"""The legal analysis: each reviewer's checklist, reasons and decision, and the four-eyes
rule that turns reviews into an outcome.

Two approvals by two different principals are needed; the database's unique
(order, reviewer) constraint backs the service's check, so even a race or a second token of
the same principal cannot make one person count twice. An emergency order may go ahead on
one approval; a second reviewer must then review it within 24 hours (four eyes after the
fact), and a police order's judicial validation must follow within 48 hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rempart.auth.service import Caller
from rempart.core.clock import as_utc, now_of
from rempart.legal import events
from rempart.legal.exceptions import FourEyesViolation, InvalidTransition, ReviewInvalid
from rempart.legal.holds import release_holds
from rempart.legal.models import Order, Review
from rempart.legal.schemas import (
    ORDER_TYPES_TO_ACT,
    REQUIRED_FOR_APPROVAL,
    ChecklistAnswer,
    ChecklistItem,
    Confirmation,
    OrderStatus,
    RefusalGround,
    ReviewCreate,
    ReviewDecision,
)
from rempart.legal.trail import audit_order

REVIEWABLE = frozenset({OrderStatus.CHECKS_PASSED, OrderStatus.UNDER_REVIEW})
# An emergency order decided on one review stays open to the second reviewer in these.
CONFIRMABLE = frozenset(
    {
        OrderStatus.APPROVED,
        OrderStatus.PARTIALLY_APPROVED,
        OrderStatus.DISCLOSED,
        OrderStatus.CLOSED,
    }
)
APPROVALS_NEEDED = 2
SECOND_REVIEW_WINDOW = timedelta(hours=24)


def acknowledge(order: Order, now: datetime) -> None:
    """The first time a legal reviewer opens or reviews an order: time to acknowledge."""
    if order.acknowledged_at is None:
        order.acknowledged_at = now


def awaits_second_review(order: Order) -> bool:
    """A late second review is still taken: it cannot undo the flag, but it is the record
    of whether the disclosure was right."""
    return (
        order.confirmation in (Confirmation.PENDING, Confirmation.NOT_CONFIRMED)
        and order.second_reviewed_at is None
        and order.status in CONFIRMABLE
    )


def submit_review(session: Session, *, order: Order, caller: Caller, data: ReviewCreate) -> Order:
    if order.order_type in ORDER_TYPES_TO_ACT:
        # Nothing to disclose, so no four-eyes review: a single confirmation, elsewhere.
        raise InvalidTransition(
            "Orders to act are confirmed (POST …/action-confirmation), not reviewed for "
            "disclosure.",
            code="order_to_act",
        )
    after_the_fact = awaits_second_review(order)
    if order.status not in REVIEWABLE and not after_the_fact:
        raise InvalidTransition(f"An order that is {order.status} cannot be reviewed.")
    if any(r.reviewer_id == caller.principal_id for r in order.reviews):
        raise FourEyesViolation(
            "You have already reviewed this order: the second review must come from another "
            "legal reviewer."
        )
    missing = [item.value for item in ChecklistItem if item not in data.checklist]
    if missing:
        raise ReviewInvalid(
            "Every checklist question needs an answer.",
            code="checklist_incomplete",
            missing=missing,
        )
    # A second review after the fact weighs what the first reviewer let through.
    open_status = "approved" if after_the_fact else "pending"
    pending = [c for c, o in order.category_outcomes.items() if o["status"] == open_status]
    found = [
        t.position
        for t in order.targets
        if (t.approved if after_the_fact else t.resolution == "found")
    ]
    categories = [c.value for c in data.approved_categories or []] or pending
    targets = data.approved_targets if data.approved_targets is not None else found
    if data.decision is ReviewDecision.APPROVE:
        unmet = [i.value for i in REQUIRED_FOR_APPROVAL if data.checklist[i] != ChecklistAnswer.YES]
        if unmet:
            raise ReviewInvalid(
                "An approval needs a yes to each of these questions.",
                code="approval_not_supported",
                unmet=unmet,
            )
        if not set(categories) <= set(pending) or not categories:
            raise ReviewInvalid(
                "Approve only categories the checks let through: " + ", ".join(pending) + ".",
                code="category_not_approvable",
            )
        if not set(targets) <= set(found) or not targets:
            raise ReviewInvalid(
                "Approve only targets that resolved to an account.", code="target_not_approvable"
            )
    now = now_of(session)
    acknowledge(order, now)
    if not after_the_fact:
        order.status = OrderStatus.UNDER_REVIEW.value
    approving = data.decision is ReviewDecision.APPROVE
    review = Review(
        order_id=order.id,
        reviewer_id=caller.principal_id,
        decision=data.decision.value,
        approved_categories=sorted(categories) if approving else [],
        approved_targets=sorted(set(targets)) if approving else [],
        checklist={k.value: v.value for k, v in data.checklist.items()},
        reasons=data.reasons,
        refusal_grounds=[g.value for g in data.refusal_grounds],
        risk_flags=list(order.risk_flags),
        created_at=now,
    )
    session.add(review)
    try:
        session.flush()
    except IntegrityError:
        raise FourEyesViolation(
            "You have already reviewed this order: the second review must come from another "
            "legal reviewer."
        ) from None
    audit_order(
        session,
        order,
        events.OrderReviewed(
            decision=review.decision,
            categories=review.approved_categories,
            targets=len(review.approved_targets),
            refusal_grounds=review.refusal_grounds,
            risk_flags=[f["code"] for f in order.risk_flags],
        ),
        actor=caller.actor,
    )
    session.expire(order, ["reviews"])
    reviews = order.reviews
    if after_the_fact:
        _confirm_emergency(session, order=order, review=review, now=now)
    elif not approving:
        _refuse(session, order=order, grounds=review.refusal_grounds, reasons=data.reasons, now=now)
    else:
        approvals = [r for r in reviews if r.decision == ReviewDecision.APPROVE]
        if len(approvals) >= APPROVALS_NEEDED or order.emergency:
            _approve(session, order=order, approvals=approvals, now=now)
    return order


def _refuse(
    session: Session, *, order: Order, grounds: list[str], reasons: str, now: datetime
) -> None:
    order.status = OrderStatus.REFUSED.value
    order.refusal = {"grounds": grounds, "reasons": reasons}
    order.decided_at = order.closed_at = now
    order.category_outcomes = {
        c: (o if o["status"] != "pending" else {"status": "refused", "reason": "Refused."})
        for c, o in order.category_outcomes.items()
    }
    release_holds(session, order=order, now=now)
    _record_decision(session, order=order)


def _approve(session: Session, *, order: Order, approvals: list[Review], now: datetime) -> None:
    categories = set.intersection(*(set(r.approved_categories) for r in approvals))
    targets = set.intersection(*(set(r.approved_targets) for r in approvals))
    if not categories or not targets:
        _refuse(
            session,
            order=order,
            grounds=[RefusalGround.OTHER.value],
            reasons="The reviewers' approvals have no category or target in common.",
            now=now,
        )
        return
    outcomes = {}
    for name, outcome in order.category_outcomes.items():
        if outcome["status"] == "pending":
            approved = name in categories
            outcome = {
                "status": "approved" if approved else "refused",
                "reason": "" if approved else "Not approved by the legal review.",
            }
        outcomes[name] = outcome
    order.category_outcomes = outcomes
    for target in order.targets:
        target.approved = target.position in targets
    complete = all(o["status"] == "approved" for o in outcomes.values()) and all(
        t.approved for t in order.targets
    )
    order.status = (OrderStatus.APPROVED if complete else OrderStatus.PARTIALLY_APPROVED).value
    order.decided_at = now
    if len(approvals) < APPROVALS_NEEDED:
        # Only an emergency gets here on one approval: four eyes follow within 24 hours.
        order.confirmation = Confirmation.PENDING.value
        order.second_review_due_at = now + SECOND_REVIEW_WINDOW
    _record_decision(session, order=order)


def _confirm_emergency(session: Session, *, order: Order, review: Review, now: datetime) -> None:
    """The second reviewer's verdict on an emergency order that went ahead on one review."""
    order.second_reviewed_at = now
    if review.decision == ReviewDecision.APPROVE:
        order.confirmation = Confirmation.CONFIRMED.value
        audit_order(
            session,
            order,
            events.EmergencyConfirmed(late=now > as_utc(order.second_review_due_at or now)),
            actor="system:legal",
        )
        return
    order.confirmation = Confirmation.NOT_CONFIRMED.value
    order.confirmation_flagged_at = now
    disclosed = order.status not in (OrderStatus.APPROVED, OrderStatus.PARTIALLY_APPROVED)
    if not disclosed:
        # Nothing left yet: the second reviewer's refusal stops the order.
        _refuse(
            session,
            order=order,
            grounds=review.refusal_grounds,
            reasons=review.reasons,
            now=now,
        )
    flag_unconfirmed(session, order=order, reason="second_review_refused", disclosed=disclosed)


def flag_unconfirmed(session: Session, *, order: Order, reason: str, disclosed: bool) -> None:
    """An emergency order that its second review or its judicial validation did not back:
    an alert for legal reviewers and admins, and a flag the authority reads."""
    audit_order(
        session,
        order,
        events.EmergencyNotConfirmed(reason=reason, disclosed=disclosed, emergency=True),
        actor="system:legal",
    )


def _record_decision(session: Session, *, order: Order) -> None:
    audit_order(
        session,
        order,
        events.OrderDecided(
            status=order.status,
            category_outcomes={c: o["status"] for c, o in order.category_outcomes.items()},
            approved_targets=sum(1 for t in order.targets if t.approved),
            refusal_grounds=(order.refusal or {}).get("grounds", []),
            emergency=order.emergency,
        ),
        actor="system:legal",
    )
