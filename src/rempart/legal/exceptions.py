from __future__ import annotations

from rempart.core.errors import Conflict, Invalid, NotFound, RempartError


class OrderRefused(RempartError):
    """An order turned away at intake: bad signature, unknown key, expired, replayed… The
    refusal is audited in a transaction of its own, since the request's rolls back."""

    status_code = 422
    code = "order_refused"


class BadSignature(OrderRefused):
    status_code = 401
    code = "bad_signature"


class UnknownKey(OrderRefused):
    status_code = 401
    code = "unknown_key"


class KeyNotUsable(OrderRefused):
    status_code = 403
    code = "key_not_usable"


class NotYourKey(OrderRefused):
    status_code = 403
    code = "not_your_key"


class ExpiredOrder(OrderRefused):
    code = "expired_token"


class ReplayedOrder(OrderRefused):
    status_code = 409
    code = "replayed_token"


class MalformedOrder(OrderRefused):
    code = "malformed_order"


class DocumentMismatch(OrderRefused):
    code = "document_hash_mismatch"


class AuthorityNotCompetent(OrderRefused):
    """An order to act from an authority that is not verified, or not registered as
    competent for that kind of order (TCO Art. 12, DSA Art. 9)."""

    status_code = 403
    code = "authority_not_competent"


class ItemNotFound(OrderRefused):
    """An order to act names an item the platform does not hold (or not publicly)."""

    status_code = 422
    code = "item_not_found"


class AuthorityNotFound(NotFound):
    code = "authority_not_found"


class AuthorityExists(Conflict):
    code = "authority_exists"


class KeyExists(Conflict):
    code = "key_exists"


class InvalidAuthority(Invalid):
    code = "invalid_authority"


class OrderNotFound(NotFound):
    code = "order_not_found"


class InvalidTransition(Conflict):
    """The order is not in a state that allows this step."""

    code = "invalid_transition"


class FourEyesViolation(Conflict):
    code = "four_eyes"


class ReviewInvalid(Invalid):
    code = "invalid_review"


class DisclosureNotReady(Conflict):
    code = "disclosure_not_ready"


class OrderChangedMeanwhile(Conflict):
    code = "order_changed"


class ProtectedAccountNotFound(NotFound):
    code = "protected_account_not_found"


class OrderOnHold(Conflict):
    """The issuing authority is suspended or the order's key revoked: nothing leaves."""

    code = "order_on_hold"


class CallbackRequired(Conflict):
    code = "callback_required"


class EmergencyNotConfirmed(Conflict):
    code = "emergency_not_confirmed"


class InvalidCallback(Invalid):
    code = "invalid_callback"
