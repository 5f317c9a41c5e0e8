"""Posting the webhook's deliveries: signed (``signing``), outside any transaction, retried
with exponential backoff, and kept as a dead letter after the last attempt, for replay.

A delivery is claimed in a short transaction (its next attempt pushed past the request's
timeout, so another worker leaves it alone), posted with none open, and its outcome
written in another short one. A worker killed mid-post leaves it claimed until the lease
ends; it is then posted again, with the same ``key`` for the receiver to drop the repeat."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.crypto import KeyRing
from rempart.core.db import transaction
from rempart.core.models import WebhookDelivery
from rempart.core.notify import WEBHOOK_BODY_PURPOSE, Channel
from rempart.core.settings import Settings
from rempart.notify import events, signing
from rempart.notify.exceptions import DeliveryNotFound, DeliveryPending, WebhookNotConfigured

log = logging.getLogger("rempart.notify")
ACTOR = "system:worker"
BATCH = 50
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    key: str
    channel: str
    body_ciphertext: bytes


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: the base, doubled each time, capped."""
    seconds = settings.notify_webhook_backoff_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.notify_webhook_max_backoff_seconds))


def lease(settings: Settings) -> timedelta:
    return timedelta(seconds=2 * settings.notify_webhook_timeout_seconds + 30)


def url_for(settings: Settings, channel: str) -> str | None:
    if channel == Channel.AUTHORITY:
        return settings.notify_authority_webhook_url
    return settings.notify_webhook_url


def configured(settings: Settings) -> bool:
    return bool(settings.notify_webhook_url and settings.notify_webhook_secret)


def any_due(engine: Engine, *, now: datetime) -> bool:
    """A read, so that an idle worker does not take the write lock every round."""
    with transaction(engine, readonly=True) as session:
        query = select(WebhookDelivery.id).where(
            WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at <= now
        )
        return session.execute(query.limit(1)).first() is not None


def claim(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    only: int | None = None,
    limit: int = BATCH,
) -> list[Claimed]:
    with transaction(engine) as session:
        query = select(WebhookDelivery).where(
            WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at <= now
        )
        if only is not None:
            query = query.where(WebhookDelivery.id == only)
        rows = list(session.execute(query.order_by(WebhookDelivery.id).limit(limit)).scalars())
        claimed = []
        for row in rows:
            # Re-checked in the UPDATE: a worker that claimed it meanwhile moved it on.
            taken = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == row.id,
                    WebhookDelivery.state == PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + lease(settings))
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(
                    Claimed(row.id, row.kind, row.message_key, row.channel, row.body_ciphertext)
                )
    return claimed


def request_body(delivery: Claimed, keys: KeyRing) -> bytes:
    data = json.loads(keys.decrypt_bytes(delivery.body_ciphertext, purpose=WEBHOOK_BODY_PURPOSE))
    envelope = {
        "id": delivery.id,
        "key": delivery.key,
        "type": delivery.kind,
        "channel": delivery.channel,
        "data": data,
    }
    return json.dumps(envelope, ensure_ascii=False, sort_keys=True).encode()


def post(client: httpx.Client, settings: Settings, keys: KeyRing, delivery: Claimed) -> str | None:
    """Post one delivery; None when the receiver took it (2xx), else why not."""
    url = url_for(settings, delivery.channel)
    secret = settings.notify_webhook_secret
    if url is None or secret is None:
        return "webhook_not_configured"
    body = request_body(delivery, keys)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Rempart-Webhook/1",
        "Rempart-Delivery": str(delivery.id),
        signing.HEADER: signing.header_value(secret.get_secret_value(), body),
    }
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def record(
    session: Session, settings: Settings, delivery: Claimed, error: str | None, *, now: datetime
) -> str:
    """Write one attempt's outcome; returns the delivery's state after it."""
    row = session.get(WebhookDelivery, delivery.id)
    if row is None or row.state != PENDING:
        return row.state if row is not None else DEAD
    row.attempts += 1
    row.last_error = error
    if error is None:
        row.state = DELIVERED
        row.delivered_at = now
        audit.record(
            session,
            events.WebhookDelivered(delivery=row.id, kind=row.kind, attempts=row.attempts),
            actor=ACTOR,
            target=row.message_key,
        )
    elif row.attempts >= settings.notify_webhook_max_attempts:
        row.state = DEAD
        row.dead_at = now
        audit.record(
            session,
            events.WebhookDeadLettered(
                delivery=row.id, kind=row.kind, attempts=row.attempts, error=error
            ),
            actor=ACTOR,
            target=row.message_key,
        )
        log.warning("webhook delivery %s dead after %d attempts", row.id, row.attempts)
    else:
        row.next_attempt_at = now + backoff(settings, row.attempts)
    return row.state


def deliver_due(
    engine: Engine,
    settings: Settings,
    keys: KeyRing,
    *,
    now: datetime,
    only: int | None = None,
    client: httpx.Client | None = None,
) -> dict[str, int]:
    """Post what is due; returns how many ended delivered, dead, or waiting to retry."""
    counts = {DELIVERED: 0, DEAD: 0, PENDING: 0}
    claimed = claim(engine, settings, now=now, only=only)
    if not claimed:
        return counts
    own = client is None
    http = client or httpx.Client(
        timeout=settings.notify_webhook_timeout_seconds, follow_redirects=False
    )
    try:
        outcomes = [(delivery, post(http, settings, keys, delivery)) for delivery in claimed]
    finally:
        if own:
            http.close()
    # One short transaction for the batch's outcomes. A crash before it commits posts the
    # batch again after the lease: the receiver drops the keys it already has.
    with transaction(engine) as session:
        for delivery, error in outcomes:
            counts[record(session, settings, delivery, error, now=now)] += 1
    return counts


def deliveries(session: Session, *, state: str, limit: int) -> list[WebhookDelivery]:
    """Deliveries in one state, newest first, for an operator to inspect."""
    return list(
        session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.state == state)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        ).scalars()
    )


def replay(
    engine: Engine, settings: Settings, *, delivery_id: int, actor: str, now: datetime
) -> str:
    """Queue a delivery again (a dead letter, or one the receiver lost), from its first
    attempt; returns its previous state. Audited."""
    if not configured(settings):
        raise WebhookNotConfigured(
            "No webhook is configured (REMPART_NOTIFY_WEBHOOK_URL and _SECRET)."
        )
    with transaction(engine) as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            raise DeliveryNotFound(f"No webhook delivery {delivery_id}.")
        if row.state == PENDING:
            raise DeliveryPending(f"Delivery {delivery_id} is already waiting to be sent.")
        previous = row.state
        row.state = PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.dead_at = None
        audit.record(
            session,
            events.WebhookReplayed(delivery=row.id, kind=row.kind, previous_state=previous),
            actor=actor,
            target=row.message_key,
        )
    return previous
