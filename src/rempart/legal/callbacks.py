"""Out-of-band confirmation: before an emergency order, or one raising a risk flag, is
released, a reviewer calls the authority back on the contact the registry holds (never one
the order gives) and records who answered and what they said.

In 2021 forged "emergency data requests" sent from hijacked police mailboxes got data out
of large platforms; a call to the number the platform registered, not the one in the
request, is what stops them.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from rempart.auth.service import Caller
from rempart.core.clock import as_utc, now_of
from rempart.legal import events
from rempart.legal.checks import CALLBACK_FLAGS
from rempart.legal.exceptions import CallbackRequired, InvalidCallback
from rempart.legal.models import Authority, Callback, Order
from rempart.legal.schemas import CallbackCreate, CallbackOutcome
from rempart.legal.trail import audit_order

CLOCK_SKEW = timedelta(minutes=5)


def reasons_for_callback(order: Order) -> list[str]:
    """Why this order needs a call-back before release; empty when it does not."""
    reasons = ["emergency"] if order.emergency else []
    reasons += sorted({f["code"] for f in order.risk_flags} & CALLBACK_FLAGS)
    return reasons


def record(session: Session, *, order: Order, caller: Caller, data: CallbackCreate) -> Callback:
    now = now_of(session)
    called_at = data.called_at
    if called_at > now + CLOCK_SKEW or called_at < as_utc(order.received_at) - CLOCK_SKEW:
        raise InvalidCallback(
            "A call-back is made after the order arrived, and not in the future.",
            code="callback_time_invalid",
        )
    authority = session.get(Authority, order.authority_id)
    assert authority is not None
    if not authority.contact:
        raise InvalidCallback(
            "The authority has no registered contact to call: register one first.",
            code="no_registered_contact",
        )
    callback = Callback(
        order_id=order.id,
        caller_id=caller.principal_id,
        contact=authority.contact,
        called_at=called_at,
        person_reached=data.person_reached,
        outcome=data.outcome.value,
        notes=data.notes,
        created_at=now,
    )
    session.add(callback)
    session.flush()
    audit_order(
        session,
        order,
        events.OrderCallback(
            outcome=data.outcome.value,
            called_at=as_utc(called_at).isoformat(),
            contact_registered_at=as_utc(
                authority.contact_changed_at or authority.created_at
            ).isoformat(),
        ),
        actor=caller.actor,
    )
    session.expire(order, ["callbacks"])
    return callback


def ensure_confirmed(order: Order) -> None:
    """Release waits for a confirming call-back when the order calls for one; a call
    where the authority denied the order blocks it for good."""
    if not reasons_for_callback(order):
        return
    outcomes = [c.outcome for c in order.callbacks]
    if CallbackOutcome.DENIED in outcomes:
        raise CallbackRequired(
            "The authority's registered contact denied this order: it may be forged. "
            "Nothing is released.",
            code="callback_denied",
        )
    if CallbackOutcome.CONFIRMED not in outcomes:
        raise CallbackRequired(
            "Call the authority back on its registered contact and record the answer "
            "before release: " + ", ".join(reasons_for_callback(order)) + ".",
            reasons=reasons_for_callback(order),
        )
