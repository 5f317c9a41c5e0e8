"""Order intake and the authority's side of an order's life: submit, follow, withdraw,
extend a preservation, validate an emergency.

An order is accepted only when its JWS verifies against a registered, usable key of the
authority whose principal submits it; everything else is refused before anything is
written, and the refusal itself is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.audit.events import AuditEvent
from rempart.auth.service import Caller
from rempart.core.clock import as_utc, utcnow
from rempart.core.crypto import KeyRing
from rempart.core.encrypted import register_encrypted_column
from rempart.core.errors import RempartError, safe_location_part
from rempart.core.settings import Settings
from rempart.legal import checks, events, jws, validations
from rempart.legal.exceptions import (
    DocumentMismatch,
    ExpiredOrder,
    InvalidTransition,
    MalformedOrder,
    NotYourKey,
    ReplayedOrder,
)
from rempart.legal.models import Authority, Order, OrderDocument, OrderTarget
from rempart.legal.schemas import (
    JUDICIAL_KINDS,
    OPEN_STATUSES,
    ORDER_TYPES_TO_ACT,
    OrderClaims,
    OrderStatus,
    OrderType,
    ValidationClaims,
)
from rempart.platform.models import LegalHold

ORDER_DEADLINE = timedelta(days=10)
EMERGENCY_DEADLINE = timedelta(hours=8)
VALIDATION_WINDOW = timedelta(hours=48)
PRESERVATION_PERIOD = timedelta(days=60)
PRESERVATION_EXTENSION = timedelta(days=30)
# A production order's own hold outlives its deadline, so a late answer still finds data.
PRODUCTION_HOLD_MARGIN = timedelta(days=30)
MAX_TOKEN_LIFETIME = timedelta(days=30)
MAX_PERIOD = timedelta(days=3 * 366)
OLDEST_PERIOD_START = timedelta(days=10 * 366)
PDF_MAGIC = b"%PDF-"
DOCUMENT_PURPOSE = "order-document"
TARGET_PURPOSE = "order-target"
JWS_PURPOSE = "order-jws"


class DocumentTooLarge(MalformedOrder):
    status_code = 413
    code = "document_too_large"


_Claims = TypeVar("_Claims", bound=BaseModel)


def parse_claims(payload: dict[str, Any], model: type[_Claims]) -> _Claims:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        items = [
            {
                "field": ".".join(safe_location_part(p) for p in e["loc"]),
                "code": e["type"],
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        raise MalformedOrder(
            "The order's claims are not valid.", code="invalid_claims", items=items
        ) from None


def check_token_times(*, iat: int, exp: int, now: datetime) -> None:
    issued = datetime.fromtimestamp(iat, UTC)
    expires = datetime.fromtimestamp(exp, UTC)
    if expires <= now:
        raise ExpiredOrder("The signed order has expired (exp); sign it again.")
    if issued > now + validations.CLOCK_SKEW:
        raise MalformedOrder("The order is issued in the future (iat).", code="issued_in_future")
    if expires - issued > MAX_TOKEN_LIFETIME:
        raise MalformedOrder(
            "A signed order may be valid for 30 days at most.", code="token_lifetime_too_long"
        )


def _check_timing(claims: OrderClaims, now: datetime) -> None:
    check_token_times(iat=claims.iat, exp=claims.exp, now=now)
    start, end = claims.period.start, claims.period.end
    if (
        end > now + timedelta(days=1)
        or start < now - OLDEST_PERIOD_START
        or end - start > MAX_PERIOD
    ):
        raise MalformedOrder(
            "The period must end by today, start at most ten years ago and span at most "
            "three years.",
            code="invalid_period",
        )


def check_document(document: bytes, *, sha256: str, settings: Settings) -> None:
    if len(document) > settings.order_document_max_bytes:
        raise DocumentTooLarge(
            f"The order document may hold at most {settings.order_document_max_bytes} bytes."
        )
    if not document.startswith(PDF_MAGIC):
        raise MalformedOrder("The order document must be a PDF.", code="document_not_pdf")
    if hashlib.sha256(document).hexdigest() != sha256:
        raise DocumentMismatch("The document's SHA-256 differs from the one the order signs.")


def receive_order(
    session: Session,
    *,
    keys: KeyRing,
    settings: Settings,
    caller: Caller,
    token: str,
    document: bytes,
) -> Order:
    """Verify, check and store an order; raises an ``OrderRefused`` before any write."""
    now = utcnow()
    header = jws.unverified_header(token)
    key = validations.usable_key(session, kid=header["kid"], now=now)
    payload = jws.verify(token, public_key=key.public_key)
    issuer = key.authority
    if issuer.principal_id != caller.principal_id:
        raise NotYourKey("This key belongs to another authority than the one signed in.")
    order_type = payload.get("order_type")
    if isinstance(order_type, str) and order_type in ORDER_TYPES_TO_ACT:
        # Orders to act and removal orders share the intake up to here: a verified
        # signature of the signed-in authority's own key.
        from rempart.legal import acts

        return acts.receive_act_order(
            session,
            keys=keys,
            settings=settings,
            caller=caller,
            key=key,
            payload=payload,
            token=token,
            document=document,
            now=now,
        )
    claims = parse_claims(payload, OrderClaims)
    if claims.iss != issuer.code:
        raise MalformedOrder("The issuer (iss) is not the key's authority.", code="issuer_mismatch")
    _check_timing(claims, now)
    refuse_replay(session, issuer=issuer, jti=claims.jti)
    check_document(document, sha256=claims.document.sha256, settings=settings)

    validator, validation_kid, validation_check = validations.countersigned_validator(
        session, claims=claims, issuer=issuer, now=now
    )
    start, end = claims.period.start, claims.period.end
    resolutions = [
        checks.resolve_target(session, keys=keys, target=t, start=start, end=end)
        for t in claims.targets
    ]
    found = [r.user_id for r in resolutions if r.user_id is not None]
    preservation = _preservation_of(session, issuer, claims)
    preserved = _holds_all(session, preservation, found)
    outcomes_of_checks, categories = checks.run_checks(
        claims=claims,
        issuer=issuer,
        validator=validator,
        validation_check=validation_check,
        resolutions=resolutions,
        held_by_preservation=preserved,
        settings=settings,
        now=now,
    )
    protected = checks.protected_categories(session, user_ids=found)
    flags = checks.risk_flags(
        session, claims=claims, issuer=issuer, protected=protected, settings=settings, now=now
    )
    failed = [c for c in outcomes_of_checks if c.outcome == checks.FAILED]
    order = Order(
        reference=f"ORD-{now:%Y}-{secrets.token_hex(5).upper()}",
        authority_id=issuer.id,
        validating_authority_id=validator.id if validator else None,
        validation_kid=validation_kid,
        kid=key.kid,
        jti=claims.jti,
        order_type=claims.order_type.value,
        country=issuer.country,
        case_reference=claims.case_reference,
        legal_basis=claims.legal_basis,
        offence_category=claims.offence.category.value,
        offence_description=claims.offence.description,
        max_penalty_years=claims.offence.max_penalty_years,
        violates_terms=claims.offence.violates_terms,
        requested_categories=[c.value for c in claims.data_categories],
        category_outcomes=categories,
        period_start=start,
        period_end=end,
        emergency=claims.emergency,
        emergency_ground=claims.emergency_ground.value if claims.emergency_ground else None,
        emergency_justification=claims.emergency_justification,
        confidential_until=(
            datetime.combine(claims.confidential_until, time(), UTC)
            if claims.confidential_until
            else None
        ),
        preservation_reference=claims.preservation_reference,
        document_sha256=claims.document.sha256,
        jws_ciphertext=keys.encrypt(token, purpose=JWS_PURPOSE),
        status=(OrderStatus.CHECKS_FAILED if failed else OrderStatus.CHECKS_PASSED).value,
        risk_flags=[f.model_dump() for f in flags],
        refusal=(
            {
                "grounds": sorted({c.ground.value for c in failed if c.ground}),
                "reasons": " ".join(c.detail for c in failed),
            }
            if failed
            else None
        ),
        received_at=now,
        due_at=now + (EMERGENCY_DEADLINE if claims.emergency else ORDER_DEADLINE),
        decided_at=now if failed else None,
        closed_at=now if failed else None,
    )
    if not failed and claims.emergency and issuer.kind not in JUDICIAL_KINDS and not validator:
        order.validation_due_at = now + VALIDATION_WINDOW
    store_order(
        session, keys, order=order, document=document, media_type=claims.document.media_type
    )
    for position, (target, resolution) in enumerate(zip(claims.targets, resolutions, strict=True)):
        session.add(
            OrderTarget(
                order_id=order.id,
                position=position,
                kind=target.kind.value,
                value_ciphertext=keys.encrypt(target.value, purpose=TARGET_PURPOSE),
                resolution=resolution.outcome,
                user_id=resolution.user_id,
                protected_category=protected.get(resolution.user_id or ""),
            )
        )
    checks.store_checks(session, order=order, checks=outcomes_of_checks)
    if not failed:
        _place_holds(session, order=order, user_ids=found, now=now)
        if preservation is not None and preservation.status == OrderStatus.PRESERVED.value:
            # e-Evidence Art. 11: preservation lasts until the production order arrives;
            # from now on this order's own holds keep the records.
            preservation.status = OrderStatus.CLOSED.value
            preservation.closed_at = now
            release_holds(session, order=preservation, now=now)
    session.flush()
    audit_order(
        session,
        order,
        events.OrderReceived(
            authority=issuer.code,
            kid=key.kid,
            order_type=order.order_type,
            offence_category=order.offence_category,
            categories=order.requested_categories,
            emergency=order.emergency,
            targets=len(claims.targets),
            document_sha256=order.document_sha256,
        ),
        actor=caller.actor,
    )
    audit_order(
        session,
        order,
        events.OrderChecked(
            status=order.status,
            checks={c.name: c.outcome for c in outcomes_of_checks},
            category_outcomes={c: o["status"] for c, o in categories.items()},
            risk_flags=[f.code for f in flags],
        ),
        actor="system:checks",
    )
    session.expire(order, ["targets", "checks", "reviews"])
    return order


def store_order(
    session: Session, keys: KeyRing, *, order: Order, document: bytes, media_type: str
) -> None:
    """The order and its document, encrypted; a replayed token stops here."""
    session.add(order)
    try:
        session.flush()
    except IntegrityError:
        # Two submissions of one token racing: the unique (authority, jti) decides.
        raise ReplayedOrder("This order (jti) was already received.") from None
    session.add(
        OrderDocument(
            order_id=order.id,
            media_type=media_type,
            size=len(document),
            ciphertext=keys.encrypt_bytes(document, purpose=DOCUMENT_PURPOSE),
        )
    )


def refuse_replay(session: Session, *, issuer: Authority, jti: str) -> None:
    if session.execute(
        select(Order.id).where(Order.authority_id == issuer.id, Order.jti == jti)
    ).first():
        raise ReplayedOrder("This order (jti) was already received.")


def _preservation_of(session: Session, issuer: Authority, claims: OrderClaims) -> Order | None:
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


def _holds_all(session: Session, preservation: Order | None, users: list[str]) -> bool:
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
            LegalHold.expires_at > utcnow(),
        )
    ).scalar_one()
    return bool(held == len(set(users)))


def _place_holds(session: Session, *, order: Order, user_ids: list[str], now: datetime) -> None:
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


def audit_order(session: Session, order: Order, event: AuditEvent, *, actor: str) -> None:
    audit.record(
        session, event, actor=actor, target=f"order:{order.reference}", country=order.country
    )


def record_refused_intake(session: Session, *, actor: str, error: RempartError) -> None:
    """A refused order leaves a trace: forged or replayed submissions are worth knowing."""
    audit.record(session, events.OrderRefusedAtIntake(code=error.code), actor=actor)


# -- the authority's follow-ups --------------------------------------------------------


def withdraw(session: Session, *, order: Order, actor: str) -> Order:
    if order.status not in OPEN_STATUSES and order.status != OrderStatus.PRESERVED:
        raise InvalidTransition(f"An order that is {order.status} can no longer be withdrawn.")
    now = utcnow()
    order.status = OrderStatus.WITHDRAWN.value
    order.withdrawn_at = order.closed_at = now
    release_holds(session, order=order, now=now)
    audit_order(session, order, events.OrderWithdrawn(), actor=actor)
    return order


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


def validate_emergency(session: Session, *, order: Order, token: str, actor: str) -> Order:
    """Record the judicial validation that a police emergency order needs within 48 hours."""
    now = utcnow()
    if not order.emergency or order.validation_due_at is None:
        raise InvalidTransition("This order awaits no judicial validation.")
    if order.validated_at is not None:
        raise InvalidTransition("This order was already validated.")
    key, payload = validations.signed_by(session, token, now=now)
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


register_encrypted_column(OrderTarget, OrderTarget.id, OrderTarget.value_ciphertext, TARGET_PURPOSE)
register_encrypted_column(Order, Order.id, Order.jws_ciphertext, JWS_PURPOSE)
register_encrypted_column(
    OrderDocument, OrderDocument.order_id, OrderDocument.ciphertext, DOCUMENT_PURPOSE
)
