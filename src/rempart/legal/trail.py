"""The audit trail of one order: every entry about it names it as its target, so that the
authority's receipt and the transparency figures find them all."""

from __future__ import annotations

from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.audit.events import AuditEvent
from rempart.legal.models import Order


def audit_order(session: Session, order: Order, event: AuditEvent, *, actor: str) -> None:
    audit.record(
        session, event, actor=actor, target=f"order:{order.reference}", country=order.country
    )
