"""Orders to act against illegal content (DSA Art. 9) and removal orders for terrorist
content (Regulation (EU) 2021/784, "TCO").

They arrive like information orders (a JWS from a registered authority's key, the
document's hash bound) but ask the platform to act, never to disclose: an order to act
holds no data category, and the review and release paths refuse it. A removal order is
carried out by the worker at once, within the hour TCO Art. 3(3) allows, with no human in
the way; an order to act waits for one legal reviewer's confirmation and its own deadline.
Acting means: preserve the content for six months (TCO Art. 6), disable it through the
platform-actions port, tell the authority when and how (DSA Art. 9(1), TCO Art. 3(3)),
and tell the content's owner, with the order's reference, unless the authority asked for
delay (TCO Art. 11).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.auth.service import Caller
from rempart.core import jobs
from rempart.core.clock import as_utc
from rempart.core.errors import RempartError
from rempart.core.settings import Settings
from rempart.legal import checks, events
from rempart.legal.act_schemas import ActConfirmation, ActItem, ActOrderClaims
from rempart.legal.exceptions import (
    AuthorityNotCompetent,
    InvalidTransition,
    ItemNotFound,
    MalformedOrder,
)
from rempart.legal.models import (
    Authority,
    AuthorityKey,
    Order,
    OrderAct,
    OrderItem,
)
from rempart.legal.orders import (
    SealedDocument,
    check_sealed_document,
    check_token_times,
    parse_claims,
    refuse_replay,
    store_order,
)
from rempart.legal.schemas import (
    ORDER_TYPES_TO_ACT,
    ActItemRead,
    ActOutcome,
    ActRead,
    AuthorityStatus,
    Competence,
    OffenceCategory,
    OrderStatus,
    OrderType,
)
from rempart.legal.trail import audit_order
from rempart.reports import targets
from rempart.reports.schemas import Target

# TCO Art. 3(3): "as soon as possible and in any event within one hour of receipt".
REMOVAL_DEADLINE = timedelta(hours=1)
EXECUTE_JOB = "legal.act.execute"
REQUIRED_COMPETENCE = {
    OrderType.REMOVAL: Competence.TCO_REMOVAL,
    OrderType.ACT: Competence.DSA_ORDERS_TO_ACT,
}


def is_order_to_act(order: Order) -> bool:
    return order.order_type in ORDER_TYPES_TO_ACT


# -- intake -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedActClaims:
    claims: ActOrderClaims
    order_type: OrderType
    due: datetime


def check_act_claims(
    session: Session, *, issuer: Authority, payload: dict[str, Any], now: datetime
) -> CheckedActClaims:
    """The refusals of an order to act that come before its document's check: claims,
    issuer, times, competence, deadline, replay."""
    claims = parse_claims(payload, ActOrderClaims)
    if claims.iss != issuer.code:
        raise MalformedOrder("The issuer (iss) is not the key's authority.", code="issuer_mismatch")
    check_token_times(iat=claims.iat, exp=claims.exp, now=now)
    order_type = OrderType(claims.order_type)
    _check_competence(issuer, order_type)
    due = now + REMOVAL_DEADLINE if claims.deadline is None else claims.deadline
    if due <= now:
        raise MalformedOrder("The order's deadline has already passed.", code="deadline_passed")
    refuse_replay(session, issuer=issuer, jti=claims.jti)
    return CheckedActClaims(claims, order_type, due)


def receive_act_order(
    session: Session,
    *,
    settings: Settings,
    caller: Caller,
    key: AuthorityKey,
    payload: dict[str, Any],
    jws_ciphertext: bytes,
    document: SealedDocument,
    now: datetime,
) -> Order:
    """Check and store an order to act whose signature has verified and whose document was
    checked and encrypted before the transaction (orders.seal_submission); raises an
    ``OrderRefused`` before anything is written when any check fails."""
    issuer = key.authority
    checked = check_act_claims(session, issuer=issuer, payload=payload, now=now)
    claims, order_type, due = checked.claims, checked.order_type, checked.due
    check_sealed_document(document, sha256=claims.document.sha256, settings=settings)
    resolved = _resolve_items(session, items=claims.items, link_base=settings.public_link_base)
    order = Order(
        reference=f"ORD-{now:%Y}-{secrets.token_hex(5).upper()}",
        authority_id=issuer.id,
        kid=key.kid,
        jti=claims.jti,
        order_type=order_type.value,
        country=issuer.country,
        case_reference=claims.case_reference,
        legal_basis=claims.legal_basis,
        # The type of illegal content, which the DSA report groups orders by.
        offence_category=(
            OffenceCategory.TERRORISM
            if order_type is OrderType.REMOVAL
            else claims.offence_category or OffenceCategory.OTHER
        ).value,
        offence_description=claims.statement_of_reasons,
        max_penalty_years=None,
        violates_terms=True,
        # Nothing to disclose, ever: the release path finds no category to release.
        requested_categories=[],
        category_outcomes={},
        # An order to act covers no period of records.
        period_start=now,
        period_end=now,
        emergency=False,
        document_sha256=claims.document.sha256,
        jws_ciphertext=jws_ciphertext,
        status=OrderStatus.CHECKS_PASSED.value,
        risk_flags=[],
        received_at=now,
        # Receipt is acknowledged in the answer to the authority's submission.
        acknowledged_at=now,
        due_at=due,
    )
    store_order(session, order=order, document=document, media_type=claims.document.media_type)
    session.add(
        OrderAct(
            order_id=order.id,
            territorial_scope=list(claims.territorial_scope),
            statement_of_reasons=claims.statement_of_reasons,
            delay_informing_owner=claims.delay_informing_owner,
            outcome=ActOutcome.PENDING.value,
        )
    )
    for position, (named, found) in enumerate(zip(claims.items, resolved, strict=True)):
        session.add(
            OrderItem(
                order_id=order.id,
                position=position,
                reference=named.label,
                kind=found.kind,
                ref=found.ref,
                entity_id=found.entity_id,
            )
        )
    passed = [
        checks.CheckOutcome(
            "authority_competent",
            checks.PASSED,
            f"The issuer is verified and competent ({REQUIRED_COMPETENCE[order_type]}).",
        ),
        checks.CheckOutcome("items_exist", checks.PASSED, f"{len(resolved)} public item(s) found."),
        checks.CheckOutcome(
            "territorial_scope",
            checks.PASSED,
            "EU-wide."
            if claims.eu_wide
            else "Member States: " + ", ".join(claims.territorial_scope),
        ),
    ]
    checks.store_checks(session, order=order, checks=passed)
    session.flush()
    audit_order(
        session,
        order,
        events.OrderReceived(
            authority=issuer.code,
            kid=key.kid,
            order_type=order.order_type,
            offence_category=order.offence_category,
            categories=[],
            emergency=False,
            items=len(resolved),
            territorial_scope=list(claims.territorial_scope),
            delay_informing_owner=claims.delay_informing_owner,
            due_at=due.isoformat(),
            document_sha256=order.document_sha256,
        ),
        actor=caller.actor,
    )
    audit_order(
        session,
        order,
        events.OrderChecked(status=order.status, checks={c.name: c.outcome for c in passed}),
        actor="system:checks",
    )
    if order_type is OrderType.REMOVAL:
        # No review: the worker acts at once.
        jobs.enqueue(session, kind=EXECUTE_JOB, payload={"order": order.id})
    session.expire(order, ["targets", "checks", "reviews"])
    return order


def _check_competence(issuer: Authority, order_type: OrderType) -> None:
    if issuer.status != AuthorityStatus.VERIFIED:
        raise AuthorityNotCompetent(
            "Only a verified authority may order content removed.", code="authority_not_verified"
        )
    needed = REQUIRED_COMPETENCE[order_type]
    if needed.value not in (issuer.competences or []):
        raise AuthorityNotCompetent(
            f"This authority is not registered as competent for {needed.value} orders.",
            code="authority_not_competent",
        )


def _resolve_items(
    session: Session, *, items: list[ActItem], link_base: str
) -> list[targets.ResolvedTarget]:
    resolved: list[targets.ResolvedTarget] = []
    for position, item in enumerate(items):
        try:
            target = (
                Target(url=item.url) if item.url is not None else Target(kind=item.kind, id=item.id)
            )
            found = targets.resolve(session, target=target, link_base=link_base)
        except (RempartError, ValidationError):
            raise ItemNotFound(
                f"Item {position} names no public post or entity on this platform.",
                position=position,
            ) from None
        if any((r.kind, r.ref) == (found.kind, found.ref) for r in resolved):
            raise MalformedOrder(
                f"Item {position} names an item already named.", code="duplicate_item"
            )
        resolved.append(found)
    return resolved


# -- the legal reviewer's confirmation (Art. 9 orders only) ------------------------------


def confirm(
    session: Session, *, order: Order, caller: Caller, data: ActConfirmation, now: datetime
) -> Order:
    """One legal reviewer confirms (the worker then acts) or refuses, with reasons. A
    removal order needs no confirmation: it is already being carried out."""
    act = act_of(session, order=order)
    if order.order_type != OrderType.ACT.value:
        raise InvalidTransition("Only an order to act (DSA Art. 9) awaits a confirmation.")
    if order.status != OrderStatus.CHECKS_PASSED.value or act.confirmed_at is not None:
        raise InvalidTransition(f"This order is {order.status} and was already answered.")
    act.confirmed_by = caller.principal_id
    act.confirmed_at = now
    act.reasons = data.reasons
    if data.decision == "refuse":
        order.status = OrderStatus.REFUSED.value
        order.decided_at = order.closed_at = now
        order.refusal = {"grounds": ["other"], "reasons": data.reasons}
        act.outcome = ActOutcome.REFUSED.value
        audit_order(
            session,
            order,
            events.OrderDecided(status=order.status, order_type=order.order_type),
            actor=caller.actor,
        )
        return order
    order.decided_at = now
    audit_order(
        session,
        order,
        events.ActionConfirmed(due_at=as_utc(order.due_at).isoformat()),
        actor=caller.actor,
    )
    jobs.enqueue(session, kind=EXECUTE_JOB, payload={"order": order.id})
    return order


# -- reads ------------------------------------------------------------------------------


def act_of(session: Session, *, order: Order) -> OrderAct:
    act = session.get(OrderAct, order.id)
    if act is None:
        raise InvalidTransition("This is not an order to act.")
    return act


def items_of(session: Session, *, order: Order) -> list[OrderItem]:
    return list(
        session.execute(
            select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.position)
        ).scalars()
    )


def act_read(session: Session, *, order: Order, now: datetime) -> ActRead:
    act = act_of(session, order=order)
    effected = as_utc(order.effected_at) if order.effected_at else None
    due = as_utc(order.due_at)
    received = as_utc(order.received_at)
    return ActRead(
        outcome=ActOutcome(act.outcome),
        territorial_scope=act.territorial_scope,
        statement_of_reasons=act.statement_of_reasons,
        delay_informing_owner=act.delay_informing_owner,
        deadline_missed=(effected or now) > due and act.outcome != ActOutcome.REFUSED,
        confirmed_at=as_utc(act.confirmed_at) if act.confirmed_at else None,
        reasons=act.reasons,
        authority_informed_at=(
            as_utc(act.authority_informed_at) if act.authority_informed_at else None
        ),
        minutes_to_act=(round((effected - received).total_seconds() / 60, 2) if effected else None),
        items=[
            ActItemRead(
                position=i.position,
                reference=i.reference,
                kind=i.kind,
                ref=i.ref,
                action=i.action,
                acted_at=as_utc(i.acted_at) if i.acted_at else None,
            )
            for i in items_of(session, order=order)
        ],
    )


def outcomes_of(session: Session, *, order_ids: list[int]) -> dict[int, str]:
    """The act outcome of each of these orders that is an order to act (for lists)."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(OrderAct.order_id, OrderAct.outcome).where(OrderAct.order_id.in_(order_ids))
    )
    return {order_id: outcome for order_id, outcome in rows}
