"""Which public items an order to act (DSA Art. 9) or a TCO removal order took down.

The order, not the moderation item, is what keeps them down: a scan of an item nobody
had scanned yet, a rescan after new models, an edit, a re-ingest or a moderator's "no
violation" must not bring back what an authority ordered removed. Only the order's own
life may lift it: the lookup counts orders that are still ``acted``, so an order that
later leaves that status (annulled by a court, if that comes to be modelled) stops
counting, and the next scan decides the item again.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.legal.models import Order, OrderItem
from rempart.legal.schemas import OrderStatus
from rempart.moderation import hooks

REMOVED = hooks.ordered.REMOVED
GEO_RESTRICTED = hooks.ordered.GEO_RESTRICTED


def ordered_down(session: Session, *, kind: str, refs: Collection[str]) -> dict[str, str]:
    """ref -> ``removed`` or ``geo_restricted`` for the items of this kind an order in
    effect took down (``removed`` when several orders name one item)."""
    if not refs:
        return {}
    rows = session.execute(
        select(OrderItem.ref, OrderItem.action)
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            OrderItem.kind == kind,
            OrderItem.ref.in_(list(refs)),
            OrderItem.action.in_([REMOVED, GEO_RESTRICTED]),
            Order.status == OrderStatus.ACTED.value,
        )
    ).all()
    found: dict[str, str] = {}
    for ref, action in rows:
        if action is not None and found.get(ref) != REMOVED:
            found[ref] = action
    return found
