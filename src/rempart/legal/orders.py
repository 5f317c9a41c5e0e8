"""Order intake: an authority's submission, checked, sealed and stored (its follow-ups,
withdrawal and an emergency's judicial validation, are in ``followups``).

An order is accepted only when its JWS verifies against a registered, usable key of the
authority whose principal submits it; everything else is refused before anything is
written, and the refusal itself is audited. Intake runs in four steps: verify the
signature and parse the claims, read the facts the decision needs, evaluate (a pure
function of claims, facts and the clock), persist.

The slow parts (verifying the signature, hashing and encrypting a document of up to
20 MB) run with no write transaction open: :func:`check_submission` reads and verifies,
:func:`seal_submission` checks and encrypts the document with no transaction at all, and
:func:`receive_order`, the short write, checks again what was read (the key still usable,
the order not yet received) and decides on facts read under its own lock.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.auth.service import Caller
from rempart.core.clock import now_of
from rempart.core.crypto import KeyRing
from rempart.core.encrypted import register_encrypted_column
from rempart.core.errors import RempartError, safe_location_part
from rempart.core.settings import Settings
from rempart.legal import checks, events, holds, jws, validations
from rempart.legal.exceptions import (
    DocumentMismatch,
    ExpiredOrder,
    MalformedOrder,
    NotYourKey,
    ReplayedOrder,
)
from rempart.legal.models import Authority, AuthorityKey, Order, OrderDocument, OrderTarget
from rempart.legal.schemas import (
    JUDICIAL_KINDS,
    ORDER_TYPES_TO_ACT,
    OrderClaims,
    OrderStatus,
    RiskFlag,
)
from rempart.legal.trail import audit_order

ORDER_DEADLINE = timedelta(days=10)
EMERGENCY_DEADLINE = timedelta(hours=8)
VALIDATION_WINDOW = timedelta(hours=48)
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


@dataclass(frozen=True)
class SealedDocument:
    """An order's document, checked (its size, that it is a PDF, the SHA-256 its claims
    sign) and encrypted before the write transaction."""

    sha256: str
    size: int
    ciphertext: bytes


def check_sealed_document(
    document: bytes | SealedDocument, *, sha256: str, settings: Settings
) -> None:
    """The document check of a decision: in full for raw bytes; for a sealed document,
    that it was checked against the SHA-256 these claims sign."""
    if isinstance(document, SealedDocument):
        if document.sha256 != sha256:
            raise DocumentMismatch("The document's SHA-256 differs from the one the order signs.")
        return
    check_document(document, sha256=sha256, settings=settings)


@dataclass(frozen=True)
class CheckedSubmission:
    """What the read before an order's write found: a signature that verified with a usable
    key of the signed-in authority, and no refusal that comes before the document's check."""

    kid: str
    public_key: bytes
    payload: dict[str, Any]
    document_sha256: str


@dataclass(frozen=True)
class SealedSubmission:
    """A checked submission with its token and document encrypted: all that the write
    transaction stores, made before it opens."""

    kid: str
    public_key: bytes
    payload: dict[str, Any]
    jws_ciphertext: bytes
    document: SealedDocument


@dataclass(frozen=True)
class SignedSubmission:
    """A token whose signature verified against a usable key of the signed-in authority."""

    key: AuthorityKey
    payload: dict[str, Any]

    @property
    def issuer(self) -> Authority:
        return self.key.authority


@dataclass(frozen=True)
class OrderFacts:
    """What the database says about an order's claims, read before anything is decided."""

    already_received: bool
    validator: Authority | None
    validation_kid: str | None
    validation_check: checks.CheckOutcome | None
    resolutions: list[checks.Resolution]
    preservation: Order | None
    held_by_preservation: bool
    protected: dict[str, str]
    risk_flags: list[RiskFlag]

    @property
    def found(self) -> list[str]:
        return [r.user_id for r in self.resolutions if r.user_id is not None]


@dataclass(frozen=True)
class Evaluation:
    """The platform's automatic answer to an order, before any human looks at it."""

    checks: list[checks.CheckOutcome]
    categories: dict[str, dict[str, str]]
    status: OrderStatus
    refusal: dict[str, Any] | None
    due_at: datetime
    validation_due_at: datetime | None

    @property
    def failed(self) -> bool:
        return self.status is OrderStatus.CHECKS_FAILED


def check_submission(session: Session, *, caller: Caller, token: str) -> CheckedSubmission:
    """The read before an order's write transaction: the signature, and every refusal that
    comes before the document's check (issuer, times, competence, replay), so that a forged,
    expired or replayed order costs no hashing. Raises an ``OrderRefused``."""
    now = now_of(session)
    submission = verify_submission(session, caller=caller, token=token, now=now)
    if _is_order_to_act(submission.payload):
        from rempart.legal import acts

        sha256 = acts.check_act_claims(
            session, issuer=submission.issuer, payload=submission.payload, now=now
        ).claims.document.sha256
    else:
        claims = parse_claims(submission.payload, OrderClaims)
        refuse_unstorable(
            claims,
            issuer=submission.issuer,
            received=already_received(session, issuer=submission.issuer, jti=claims.jti),
            now=now,
        )
        sha256 = claims.document.sha256
    return CheckedSubmission(
        kid=submission.key.kid,
        public_key=submission.key.public_key,
        payload=submission.payload,
        document_sha256=sha256,
    )


def seal_submission(
    checked: CheckedSubmission, *, keys: KeyRing, settings: Settings, token: str, document: bytes
) -> SealedSubmission:
    """Check the document against the SHA-256 the order signs, and encrypt it and the
    token: megabytes of hashing and encryption, done with no transaction open."""
    check_document(document, sha256=checked.document_sha256, settings=settings)
    return SealedSubmission(
        kid=checked.kid,
        public_key=checked.public_key,
        payload=checked.payload,
        jws_ciphertext=keys.encrypt(token, purpose=JWS_PURPOSE),
        document=SealedDocument(
            sha256=checked.document_sha256,
            size=len(document),
            ciphertext=keys.encrypt_bytes(document, purpose=DOCUMENT_PURPOSE),
        ),
    )


def receive_order(
    session: Session,
    *,
    keys: KeyRing,
    settings: Settings,
    caller: Caller,
    sealed: SealedSubmission,
) -> Order:
    """The short write of an order's intake: check again what was read before (the key is
    still usable and the same, the order not yet received, which the unique (authority,
    jti) settles between racing submissions), decide on the facts read now, store.
    Raises an ``OrderRefused`` before any write."""
    now = now_of(session)
    key = still_usable_key(session, caller=caller, sealed=sealed, now=now)
    if _is_order_to_act(sealed.payload):
        # Orders to act and removal orders share the intake up to here: a verified
        # signature of the signed-in authority's own key.
        from rempart.legal import acts

        return acts.receive_act_order(
            session,
            settings=settings,
            caller=caller,
            key=key,
            payload=sealed.payload,
            jws_ciphertext=sealed.jws_ciphertext,
            document=sealed.document,
            now=now,
        )
    claims = parse_claims(sealed.payload, OrderClaims)
    facts = read_facts(
        session, keys=keys, settings=settings, claims=claims, issuer=key.authority, now=now
    )
    evaluation = evaluate_order(
        claims=claims,
        issuer=key.authority,
        facts=facts,
        document=sealed.document,
        settings=settings,
        now=now,
    )
    return persist_order(
        session,
        keys=keys,
        caller=caller,
        key=key,
        claims=claims,
        facts=facts,
        evaluation=evaluation,
        jws_ciphertext=sealed.jws_ciphertext,
        document=sealed.document,
        now=now,
    )


def _is_order_to_act(payload: dict[str, Any]) -> bool:
    order_type = payload.get("order_type")
    return isinstance(order_type, str) and order_type in ORDER_TYPES_TO_ACT


def still_usable_key(
    session: Session, *, caller: Caller, sealed: SealedSubmission, now: datetime
) -> AuthorityKey:
    """The key whose signature verified before the transaction, if it may still sign: not
    revoked, its authority not suspended since, and the same key material."""
    key = validations.usable_key(session, kid=sealed.kid, now=now)
    if key.public_key != sealed.public_key:
        raise NotYourKey("This key changed since the order's signature was verified.")
    if key.authority.principal_id != caller.principal_id:
        raise NotYourKey("This key belongs to another authority than the one signed in.")
    return key


def verify_submission(
    session: Session, *, caller: Caller, token: str, now: datetime
) -> SignedSubmission:
    header = jws.unverified_header(token)
    key = validations.usable_key(session, kid=header["kid"], now=now)
    payload = jws.verify(token, public_key=key.public_key)
    if key.authority.principal_id != caller.principal_id:
        raise NotYourKey("This key belongs to another authority than the one signed in.")
    return SignedSubmission(key=key, payload=payload)


def read_facts(
    session: Session,
    *,
    keys: KeyRing,
    settings: Settings,
    claims: OrderClaims,
    issuer: Authority,
    now: datetime,
) -> OrderFacts:
    """Only reads: whatever the evaluation needs from the database, looked up once."""
    validator, validation_kid, validation_check = validations.countersigned_validator(
        session, claims=claims, issuer=issuer, now=now
    )
    start, end = claims.period.start, claims.period.end
    resolutions = [
        checks.resolve_target(session, keys=keys, target=t, start=start, end=end)
        for t in claims.targets
    ]
    found = [r.user_id for r in resolutions if r.user_id is not None]
    preservation = holds.preservation_of(session, issuer=issuer, claims=claims)
    protected = checks.protected_categories(session, user_ids=found)
    return OrderFacts(
        already_received=already_received(session, issuer=issuer, jti=claims.jti),
        validator=validator,
        validation_kid=validation_kid,
        validation_check=validation_check,
        resolutions=resolutions,
        preservation=preservation,
        held_by_preservation=holds.holds_all(session, preservation=preservation, users=found),
        protected=protected,
        risk_flags=checks.risk_flags(
            session, claims=claims, issuer=issuer, protected=protected, settings=settings, now=now
        ),
    )


def refuse_unstorable(
    claims: OrderClaims, *, issuer: Authority, received: bool, now: datetime
) -> None:
    """The refusals that come before the document's check."""
    if claims.iss != issuer.code:
        raise MalformedOrder("The issuer (iss) is not the key's authority.", code="issuer_mismatch")
    _check_timing(claims, now)
    if received:
        raise ReplayedOrder("This order (jti) was already received.")


def evaluate_order(
    *,
    claims: OrderClaims,
    issuer: Authority,
    facts: OrderFacts,
    document: bytes | SealedDocument,
    settings: Settings,
    now: datetime,
) -> Evaluation:
    """The pure decision: raises an ``OrderRefused`` for an order that cannot even be
    stored, and otherwise says which checks failed and what becomes of each category.
    ``document`` is the document itself, or as :func:`seal_submission` checked it."""
    refuse_unstorable(claims, issuer=issuer, received=facts.already_received, now=now)
    check_sealed_document(document, sha256=claims.document.sha256, settings=settings)
    outcomes, categories = checks.run_checks(
        claims=claims,
        issuer=issuer,
        validator=facts.validator,
        validation_check=facts.validation_check,
        resolutions=facts.resolutions,
        held_by_preservation=facts.held_by_preservation,
        settings=settings,
        now=now,
    )
    failed = [c for c in outcomes if c.outcome == checks.FAILED]
    awaits_validation = (
        not failed
        and claims.emergency
        and issuer.kind not in JUDICIAL_KINDS
        and facts.validator is None
    )
    return Evaluation(
        checks=outcomes,
        categories=categories,
        status=OrderStatus.CHECKS_FAILED if failed else OrderStatus.CHECKS_PASSED,
        refusal=(
            {
                "grounds": sorted({c.ground.value for c in failed if c.ground}),
                "reasons": " ".join(c.detail for c in failed),
            }
            if failed
            else None
        ),
        due_at=now + (EMERGENCY_DEADLINE if claims.emergency else ORDER_DEADLINE),
        validation_due_at=now + VALIDATION_WINDOW if awaits_validation else None,
    )


def persist_order(
    session: Session,
    *,
    keys: KeyRing,
    caller: Caller,
    key: AuthorityKey,
    claims: OrderClaims,
    facts: OrderFacts,
    evaluation: Evaluation,
    jws_ciphertext: bytes,
    document: SealedDocument,
    now: datetime,
) -> Order:
    """The order as evaluated, its targets, checks and holds, and the audit entries."""
    issuer = key.authority
    failed = evaluation.failed
    order = Order(
        reference=f"ORD-{now:%Y}-{secrets.token_hex(5).upper()}",
        authority_id=issuer.id,
        validating_authority_id=facts.validator.id if facts.validator else None,
        validation_kid=facts.validation_kid,
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
        category_outcomes=evaluation.categories,
        period_start=claims.period.start,
        period_end=claims.period.end,
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
        jws_ciphertext=jws_ciphertext,
        status=evaluation.status.value,
        risk_flags=[f.model_dump(mode="json") for f in facts.risk_flags],
        refusal=evaluation.refusal,
        received_at=now,
        due_at=evaluation.due_at,
        decided_at=now if failed else None,
        closed_at=now if failed else None,
    )
    if evaluation.validation_due_at is not None:
        order.validation_due_at = evaluation.validation_due_at
    store_order(session, order=order, document=document, media_type=claims.document.media_type)
    for position, (target, resolution) in enumerate(
        zip(claims.targets, facts.resolutions, strict=True)
    ):
        session.add(
            OrderTarget(
                order_id=order.id,
                position=position,
                kind=target.kind.value,
                value_ciphertext=keys.encrypt(target.value, purpose=TARGET_PURPOSE),
                resolution=resolution.outcome.value,
                user_id=resolution.user_id,
                protected_category=facts.protected.get(resolution.user_id or ""),
            )
        )
    checks.store_checks(session, order=order, checks=evaluation.checks)
    if not failed:
        holds.place_holds(session, order=order, user_ids=facts.found, now=now)
        preservation = facts.preservation
        if preservation is not None and preservation.status == OrderStatus.PRESERVED.value:
            # e-Evidence Art. 11: preservation lasts until the production order arrives;
            # from now on this order's own holds keep the records.
            preservation.status = OrderStatus.CLOSED.value
            preservation.closed_at = now
            holds.release_holds(session, order=preservation, now=now)
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
            checks={c.name: c.outcome.value for c in evaluation.checks},
            category_outcomes={c: o["status"] for c, o in evaluation.categories.items()},
            risk_flags=[f.code.value for f in facts.risk_flags],
        ),
        actor="system:checks",
    )
    session.expire(order, ["targets", "checks", "reviews"])
    return order


def store_order(
    session: Session, *, order: Order, document: SealedDocument, media_type: str
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
            size=document.size,
            ciphertext=document.ciphertext,
        )
    )


def already_received(session: Session, *, issuer: Authority, jti: str) -> bool:
    found = session.execute(
        select(Order.id).where(Order.authority_id == issuer.id, Order.jti == jti)
    ).first()
    return found is not None


def refuse_replay(session: Session, *, issuer: Authority, jti: str) -> None:
    if already_received(session, issuer=issuer, jti=jti):
        raise ReplayedOrder("This order (jti) was already received.")


def record_refused_intake(session: Session, *, actor: str, error: RempartError) -> None:
    """A refused order leaves a trace: forged or replayed submissions are worth knowing."""
    audit.record(session, events.OrderRefusedAtIntake(code=error.code), actor=actor)


register_encrypted_column(OrderTarget, OrderTarget.id, OrderTarget.value_ciphertext, TARGET_PURPOSE)
register_encrypted_column(Order, Order.id, Order.jws_ciphertext, JWS_PURPOSE)
register_encrypted_column(
    OrderDocument, OrderDocument.order_id, OrderDocument.ciphertext, DOCUMENT_PURPOSE
)
