"""Accounts the platform marks as press, NGOs or political entities. Orders that target
them carry a risk flag: e-Evidence Art. 12 asks for care with immunities, press freedom
and fundamental rights."""

from __future__ import annotations

from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.clock import as_utc, now_of
from rempart.legal import events
from rempart.legal.exceptions import ProtectedAccountNotFound
from rempart.legal.models import ProtectedAccount
from rempart.legal.schemas import ProtectedAccountRead, ProtectionCategory


def mark(
    session: Session, *, user_id: str, category: ProtectionCategory, actor: str
) -> ProtectedAccountRead:
    row = session.get(ProtectedAccount, user_id)
    now = now_of(session)
    if row is None:
        row = ProtectedAccount(user_id=user_id, category=category.value, marked_at=now)
        session.add(row)
    else:
        row.category, row.marked_at = category.value, now
    audit.record(
        session,
        events.ProtectedAccountMarked(category=category.value),
        actor=actor,
        target=f"account:{user_id}",
    )
    session.flush()
    return ProtectedAccountRead(user_id=user_id, category=category, marked_at=as_utc(row.marked_at))


def unmark(session: Session, *, user_id: str, actor: str) -> None:
    row = session.get(ProtectedAccount, user_id)
    if row is None:
        raise ProtectedAccountNotFound("This account is not marked.")
    session.delete(row)
    audit.record(
        session, events.ProtectedAccountUnmarked(), actor=actor, target=f"account:{user_id}"
    )
