"""The audit trail of one order: every entry about it names it as its target, so that the
authority's receipt and the transparency figures find them all."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.legal.models import Order


def audit_order(
    session: Session, order: Order, *, actor: str, action: str, details: dict[str, Any]
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        target=f"order:{order.reference}",
        country=order.country,
        details=details,
    )
