"""Judicial validation, always signed by the authority that gives it.

A police order that relies on a judge or prosecutor carries that authority's
countersignature: a JWS over the order's issuer, ``jti`` and document hash, from a usable
key of the issuer's registered parent. An emergency order from the police may go ahead
without it, and the validation then follows within 48 hours, signed the same way. Naming
a validator in the order's own claims proves nothing: the police would be vouching for
themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from rempart.core.clock import as_utc
from rempart.legal import authorities, jws
from rempart.legal.checks import FAILED, PASSED, CheckOutcome
from rempart.legal.exceptions import KeyNotUsable, OrderRefused, UnknownKey
from rempart.legal.models import Authority, AuthorityKey
from rempart.legal.schemas import (
    JUDICIAL_KINDS,
    AuthorityStatus,
    CountersignatureClaims,
    OrderClaims,
    RefusalGround,
)

COUNTERSIGNATURE_TYPE = "rempart-countersignature+jwt"
VALIDATION_TYPE = "rempart-validation+jwt"
CLOCK_SKEW = timedelta(minutes=5)


def usable_key(session: Session, *, kid: str, now: datetime) -> AuthorityKey:
    """The registered key ``kid``, if it may sign now: not revoked, inside its validity,
    and its authority not suspended."""
    key = authorities.find_key(session, kid=kid)
    if key is None:
        raise UnknownKey("No registered authority key has this kid.")
    if key.revoked_at is not None and as_utc(key.revoked_at) <= now:
        raise KeyNotUsable("This key was revoked.", code="key_revoked")
    if as_utc(key.valid_from) > now or (
        key.valid_until is not None and as_utc(key.valid_until) <= now
    ):
        raise KeyNotUsable("This key is outside its validity period.", code="key_expired")
    if key.authority.status == AuthorityStatus.SUSPENDED:
        raise KeyNotUsable("The authority of this key is suspended.", code="authority_suspended")
    return key


def validator_problem(validator: Authority, issuer: Authority) -> str | None:
    """Why ``validator`` may not validate ``issuer``'s orders, or None when it may."""
    if validator.kind not in JUDICIAL_KINDS:
        return "validator_not_judicial"
    if validator.status != AuthorityStatus.VERIFIED:
        return "validator_not_verified"
    if validator.country != issuer.country:
        return "validator_other_country"
    # The registry says which judicial authority oversees a police unit; any other judge's
    # name is an assertion the platform cannot check.
    if issuer.parent_id != validator.id:
        return "validator_not_parent"
    return None


def signed_by(
    session: Session, *, token: str, now: datetime
) -> tuple[AuthorityKey, dict[str, Any]]:
    header = jws.unverified_header(token)
    key = usable_key(session, kid=header["kid"], now=now)
    return key, jws.verify(token, public_key=key.public_key)


def countersigned_validator(
    session: Session, *, claims: OrderClaims, issuer: Authority, now: datetime
) -> tuple[Authority | None, str | None, CheckOutcome | None]:
    """The validating authority whose countersignature verifies, its key id, and the
    check that records it (None when the order names no validator)."""
    if claims.validating_authority is None:
        return None, None, None

    def failed(code: str, detail: str) -> tuple[None, None, CheckOutcome]:
        return (
            None,
            None,
            CheckOutcome("validation", FAILED, detail, RefusalGround.NOT_COMPETENT, code),
        )

    named = authorities.by_code(session, code=claims.validating_authority)
    if named is None:
        return failed(
            "validator_not_registered",
            "The validating authority named in the order is not registered.",
        )
    if not claims.validation:
        return failed(
            "countersignature_missing",
            "The order names a validating authority but carries no countersignature from it: "
            "a validation must be signed by the authority that gives it.",
        )
    try:
        key, payload = signed_by(session, token=claims.validation, now=now)
        countersignature = CountersignatureClaims.model_validate(payload)
    except (OrderRefused, ValidationError):
        return failed(
            "countersignature_invalid",
            "The countersignature is not a valid JWS from a usable, registered key.",
        )
    signer = key.authority
    order_ref = countersignature.countersigns
    if signer.id != named.id or countersignature.iss != named.code:
        return failed(
            "countersignature_wrong_signer",
            "The countersignature was not made by the validating authority the order names.",
        )
    if (
        order_ref.iss != claims.iss
        or order_ref.jti != claims.jti
        or order_ref.document_sha256 != claims.document.sha256
    ):
        return failed(
            "countersignature_other_order",
            "The countersignature covers another order (issuer, jti or document differ).",
        )
    if (
        datetime.fromtimestamp(countersignature.exp, UTC) <= now
        or datetime.fromtimestamp(countersignature.iat, UTC) > now + CLOCK_SKEW
    ):
        return failed(
            "countersignature_expired", "The countersignature is expired or not yet valid."
        )
    problem = validator_problem(signer, issuer)
    if problem is not None:
        return failed(
            problem,
            "The countersigning authority may not validate this issuer's orders: it must be "
            "the verified judicial authority registered as the issuer's parent.",
        )
    return (
        signer,
        key.kid,
        CheckOutcome("validation", PASSED, f"Countersigned by {signer.code} (key {key.kid})."),
    )
