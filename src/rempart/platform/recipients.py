"""Average monthly active recipients (DSA Art. 24(2)): each month, the distinct accounts
seen connecting, counted and recorded in the audit log, from which the DSA report averages
them. Where a recipient is is read from their phone number's country, the only location
Rempart holds without reading IP addresses; accounts without one are counted apart."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.audit.models import AuditEntry
from rempart.core.countries import EU_MEMBER_STATES
from rempart.core.errors import Invalid
from rempart.platform import events
from rempart.platform.models import Account, Connection

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class InvalidMonth(Invalid):
    code = "invalid_month"


def month_range(month: str) -> tuple[datetime, datetime]:
    match = _MONTH.match(month)
    if match is None:
        raise InvalidMonth("A month is written 2026-07.")
    year, number = int(match[1]), int(match[2])
    start = datetime(year, number, 1, tzinfo=UTC)
    return start, datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)


def record(session: Session, *, month: str, actor: str) -> dict[str, Any]:
    start, end = month_range(month)
    rows = session.execute(
        select(Connection.user_id, Account.phone_country)
        .join(Account, Account.user_id == Connection.user_id, isouter=True)
        .where(Connection.seen_at >= start, Connection.seen_at < end)
        .distinct()
    ).all()
    countries: Counter[str] = Counter()
    for _, country in rows:
        countries[country if country in EU_MEMBER_STATES else "outside_or_unknown"] += 1
    counted = events.ActiveRecipientsCounted(
        month=month,
        recipients=sum(n for c, n in countries.items() if c in EU_MEMBER_STATES),
        outside_or_unknown=countries.pop("outside_or_unknown", 0),
        by_member_state=dict(sorted(countries.items())),
    )
    audit.record(session, counted, actor=actor)
    return counted.details()


def previous_month(now: datetime) -> str:
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def record_last_month_once(session: Session, *, now: datetime) -> dict[str, Any] | None:
    """The worker's daily round: count the month that ended, once."""
    month = previous_month(now)
    done = session.execute(
        select(AuditEntry.seq)
        .where(
            AuditEntry.action == "platform.active_recipients",
            AuditEntry.body.contains(f'"month":"{month}"'),
        )
        .limit(1)
    ).first()
    if done is not None:
        return None
    return record(session, month=month, actor="system:platform")
