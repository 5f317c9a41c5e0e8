"""Messages to the people a decision concerns: reporters (Art. 16(5)), owners and reporters
under Art. 23, appellants (Art. 20). Queued in the decision's transaction, sent through the
runtime's notifier by the worker after it has committed."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.core.crypto import KeyRing
from rempart.core.encrypted import register_encrypted_column
from rempart.core.notify import Message, Notifier
from rempart.notify import service as notify
from rempart.reports.models import AppealSecret, Notice, Reporter

# Reporters' names and email addresses are encrypted under this purpose.
CONTACT_PURPOSE = "reports.reporter.contact"
ACTOR = "system:worker"


def queue(
    session: Session,
    *,
    kind: str,
    body: dict[str, Any],
    now: datetime,
    reporter_id: int | None = None,
    user_id: str | None = None,
) -> None:
    session.add(
        Notice(kind=kind, reporter_id=reporter_id, user_id=user_id, body=body, created_at=now)
    )


def appeal_link(
    session: Session,
    *,
    decision_id: int,
    party: str,
    expires_at: datetime,
    link_base: str,
    user_id: str | None = None,
    reporter_id: int | None = None,
) -> str:
    """A secret appeal link; only the secret's hash is kept."""
    secret = secrets.token_urlsafe(24)
    session.add(
        AppealSecret(
            secret_hash=secret_hash(secret),
            decision_id=decision_id,
            party=party,
            user_id=user_id,
            reporter_id=reporter_id,
            expires_at=expires_at,
        )
    )
    return f"{link_base.rstrip('/')}/appeal#{secret}"


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def appeal_deadline(decided_at: datetime, days: int) -> datetime:
    return decided_at + timedelta(days=days)


def deliver(session: Session, *, keys: KeyRing, notifier: Notifier, now: datetime) -> int:
    pending = list(
        session.execute(
            select(Notice).where(Notice.sent_at.is_(None)).order_by(Notice.id).limit(500)
        ).scalars()
    )
    for notice in pending:
        message: dict[str, Any] = dict(notice.body)
        if notice.user_id:
            message["user_id"] = notice.user_id
        reporter = session.get(Reporter, notice.reporter_id) if notice.reporter_id else None
        if reporter is not None:
            if reporter.platform_user_id:
                message["user_id"] = reporter.platform_user_id
                message["via_platform_principal"] = reporter.principal_id
            elif reporter.contact_ciphertext:
                contact = json.loads(
                    keys.decrypt_bytes(reporter.contact_ciphertext, purpose=CONTACT_PURPOSE)
                )
                message["email"] = contact["email"]
                message["name"] = contact["name"]
            else:
                message["flagger_principal"] = reporter.principal_id
        notify.send(
            session,
            notifier,
            Message(kind=notice.kind, key=f"notice:{notice.id}", body=message),
            actor=ACTOR,
            now=now,
        )
        notice.sent_at = now
    return len(pending)


register_encrypted_column(Reporter, Reporter.id, Reporter.contact_ciphertext, CONTACT_PURPOSE)
