"""Preserve evidence encrypted, read it back (audited), and purge it when its period ends.

Every function flushes and never commits: the caller's transaction holds the evidence and
its audit entry together, so evidence is never kept without a trace, nor a trace written
for evidence that was not kept.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.audit import service as audit
from rempart.core.crypto import KeyRing
from rempart.core.encrypted import register_encrypted_column
from rempart.preservation import events
from rempart.preservation.exceptions import (
    EvidenceNotFound,
    EvidencePurged,
    InvalidPreservation,
)
from rempart.preservation.models import PreservedEvidence

# Binds the ciphertext to this use: a preserved payload pasted into another encrypted
# column (or the reverse) does not decrypt.
PAYLOAD_PURPOSE = "preserved-evidence"
ACTOR = "system:preservation"
MAX_KIND_LENGTH = 32
# Purged in batches so that one run never holds a long write transaction.
PURGE_BATCH = 500


def _target(evidence: PreservedEvidence) -> str:
    return f"evidence:{evidence.id}"


def preserve(
    session: Session,
    *,
    kind: str,
    item_id: int | None,
    account_ref: str | None,
    payload: dict[str, object],
    legal_basis: str,
    keep_for: timedelta,
    now: datetime,
    keys: KeyRing,
) -> PreservedEvidence:
    """Keep ``payload`` encrypted until ``now + keep_for``; audited in this transaction."""
    if not kind or len(kind) > MAX_KIND_LENGTH:
        raise InvalidPreservation(f"A kind of evidence holds 1 to {MAX_KIND_LENGTH} characters.")
    if not legal_basis.strip():
        raise InvalidPreservation("Evidence is preserved only on a stated legal basis.")
    if keep_for <= timedelta(0):
        raise InvalidPreservation("Evidence must be kept for a positive period.")
    try:
        plaintext = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidPreservation("The evidence must be JSON.") from exc
    evidence = PreservedEvidence(
        kind=kind,
        item_id=item_id,
        account_ref=account_ref,
        legal_basis=legal_basis,
        payload_ciphertext=keys.encrypt_bytes(plaintext, purpose=PAYLOAD_PURPOSE),
        preserved_at=now,
        purge_after=now + keep_for,
    )
    session.add(evidence)
    session.flush()
    audit.record(
        session,
        events.EvidencePreserved(
            kind=kind,
            item_id=item_id,
            purge_after=evidence.purge_after.isoformat(),
            bytes=len(plaintext),
        ),
        actor=ACTOR,
        target=_target(evidence),
    )
    return evidence


def get(session: Session, *, evidence_id: int) -> PreservedEvidence:
    evidence = session.get(PreservedEvidence, evidence_id)
    if evidence is None:
        raise EvidenceNotFound("No preserved evidence has this id.")
    return evidence


def of_item(session: Session, *, item_id: int) -> list[PreservedEvidence]:
    return list(
        session.execute(
            select(PreservedEvidence)
            .where(PreservedEvidence.item_id == item_id)
            .order_by(PreservedEvidence.id)
        ).scalars()
    )


def read(
    session: Session, *, evidence_id: int, actor: str, purpose: str, keys: KeyRing
) -> dict[str, object]:
    """The preserved payload, decrypted for ``actor``; the read is audited with its purpose
    (an authority's request, a court's, an appeal's review)."""
    if not purpose.strip():
        raise InvalidPreservation("A read of preserved evidence must say why.")
    evidence = get(session, evidence_id=evidence_id)
    if evidence.payload_ciphertext is None:
        raise EvidencePurged("This evidence was purged when its legal period ended.")
    payload = json.loads(keys.decrypt_bytes(evidence.payload_ciphertext, purpose=PAYLOAD_PURPOSE))
    audit.record(
        session,
        events.EvidenceRead(kind=evidence.kind, purpose=purpose[:200]),
        actor=actor,
        target=_target(evidence),
    )
    assert isinstance(payload, dict)
    return payload


def purge_expired(session: Session, *, now: datetime) -> int:
    """Erase the ciphertext of every evidence whose period has ended; the metadata stays.
    Returns how many were purged."""
    expired = list(
        session.execute(
            select(PreservedEvidence)
            .where(PreservedEvidence.purged_at.is_(None), PreservedEvidence.purge_after <= now)
            .order_by(PreservedEvidence.id)
            .limit(PURGE_BATCH)
        ).scalars()
    )
    for evidence in expired:
        evidence.payload_ciphertext = None
        evidence.purged_at = now
        audit.record(
            session,
            events.EvidencePurged(kind=evidence.kind, purge_after=evidence.purge_after.isoformat()),
            actor=ACTOR,
            target=_target(evidence),
        )
    session.flush()
    return len(expired)


register_encrypted_column(
    PreservedEvidence, PreservedEvidence.id, PreservedEvidence.payload_ciphertext, PAYLOAD_PURPOSE
)
