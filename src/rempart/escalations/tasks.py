"""Send the confirmed Art. 18 notifications: read in a short transaction, then each one
handed to the notifier's authority channel and recorded as sent in a second short
transaction. The notifier only appends to the authority outbox or stores a webhook
delivery that the worker posts later with no transaction open, so no remote call ever
waits inside SQLite's only write lock. A crash between the outbox line and the commit
sends again next round with the same reference, for the recipient to drop the repeat;
never the reverse (marked sent without having gone)."""

from __future__ import annotations

import logging

from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.escalations import service
from rempart.notify import service as notify

log = logging.getLogger("rempart.escalations")
BATCH = 20


def run(rt: Runtime) -> int:
    """Send what is confirmed; returns how many went. A failed send stays confirmed and
    is tried again next round."""
    with transaction(rt.engine, readonly=True) as session:
        outgoing = service.to_send(session, rt.keys, limit=BATCH)
    sent = 0
    for one in outgoing:
        try:
            with transaction(rt.engine) as session:
                recipients = [n.recipient for n in one.notices]
                if not service.record_sent(
                    session, escalation_id=one.escalation_id, recipients=recipients
                ):
                    continue  # another worker sent it
                for notice in one.notices:
                    notify.send(
                        session, rt.notifier, notice.message(), actor=service.ACTOR, now=rt.now()
                    )
        except OSError as exc:  # the outbox could not be written: the next round tries again
            log.warning(
                "Art. 18 notification %s not sent: %s", one.notices[0].reference, type(exc).__name__
            )
            continue
        sent += 1
    return sent
