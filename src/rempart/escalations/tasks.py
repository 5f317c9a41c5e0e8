"""Send the confirmed Art. 18 notifications: read in a short transaction, send through
the authority notifier with no transaction open (a remote channel may take seconds, and
SQLite's only write lock must not wait on it), record each as sent in a second short
transaction. A crash between the send and the record sends again next round with the
same reference, for the recipient to drop the repeat; never the reverse (marked sent
without having gone)."""

from __future__ import annotations

import logging

from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.escalations import service
from rempart.legal.notifier import AuthorityNotifier, OutboxAuthorityNotifier

log = logging.getLogger("rempart.escalations")
BATCH = 20


def deliver(rt: Runtime, *, notifier: AuthorityNotifier) -> int:
    """Send what is confirmed; returns how many went. A failed send stays confirmed and
    is tried again next round."""
    with transaction(rt.engine, readonly=True) as session:
        outgoing = service.to_send(session, rt.keys, limit=BATCH)
    sent = 0
    for one in outgoing:
        try:
            for notice in one.notices:
                notifier.notify_authority(notice)
        except Exception as exc:  # the channel failed: the next round tries again
            log.warning(
                "Art. 18 notification %s not sent: %s",
                one.notices[0].reference,
                type(exc).__name__,
            )
            continue
        with transaction(rt.engine) as session:
            recipients = [n.recipient for n in one.notices]
            if service.record_sent(session, escalation_id=one.escalation_id, recipients=recipients):
                sent += 1
    return sent


def run(rt: Runtime) -> int:
    return deliver(rt, notifier=OutboxAuthorityNotifier(rt.settings.authority_outbox))
