"""Preserved evidence: encrypted at rest, read only with an audited purpose, erased by the
worker when its legal period ends (the metadata and the audit trail stay)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from legal_support import MovableClock
from rempart.audit import service as audit
from rempart.audit.models import AuditEntry
from rempart.core.db import transaction
from rempart.core.deps import Runtime
from rempart.preservation import service as preservation
from rempart.preservation.exceptions import EvidencePurged, InvalidPreservation
from rempart.preservation.models import PreservedEvidence
from rempart.worker import Worker

SIX_MONTHS = timedelta(days=183)
REMOVED_TEXT = "Rejoignez-nous: appel au combat armé (texte synthétique de test)"
PAYLOAD = {
    "post": {"post_id": "p-4242", "text": REMOVED_TEXT, "entity_id": "c-news"},
    "connection": {"ip": "203.0.113.77", "port": 50211},
}


def _preserve(runtime: Runtime, **changes: object) -> int:
    arguments: dict[str, object] = {
        "kind": "removal_order",
        "item_id": 17,
        "account_ref": "u-owner",
        "payload": PAYLOAD,
        "legal_basis": "Regulation (EU) 2021/784, Art. 6",
        "keep_for": SIX_MONTHS,
        "now": runtime.now(),
        "keys": runtime.keys,
    }
    arguments.update(changes)
    with transaction(runtime.engine) as session:
        evidence = preservation.preserve(session, **arguments)  # type: ignore[arg-type]
        return evidence.id


def _actions(runtime: Runtime, target: str) -> list[str]:
    with transaction(runtime.engine, readonly=True) as session:
        return list(
            session.execute(
                sa.select(AuditEntry.action)
                .where(AuditEntry.target == target)
                .order_by(AuditEntry.seq)
            ).scalars()
        )


def test_evidence_is_ciphertext_in_the_database(runtime: Runtime) -> None:
    evidence_id = _preserve(runtime)
    with runtime.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM preserved_evidence")).all()
    raw = repr(rows).encode()
    blob = bytes(rows[0]._mapping["payload_ciphertext"])
    for needle in ("Rejoignez", "203.0.113.77", "p-4242", "combat"):
        assert needle.encode() not in raw
        assert needle.encode() not in blob
    # And the key file, not the database, is what makes it readable.
    with transaction(runtime.engine) as session:
        payload = preservation.read(
            session,
            evidence_id=evidence_id,
            actor="principal:1",
            purpose="Authority request ORD-2026-TEST",
            keys=runtime.keys,
        )
    assert payload == PAYLOAD
    assert _actions(runtime, f"evidence:{evidence_id}") == [
        "preservation.evidence.preserved",
        "preservation.evidence.read",
    ]


def test_a_read_must_say_why(runtime: Runtime) -> None:
    evidence_id = _preserve(runtime)
    with transaction(runtime.engine) as session, pytest.raises(InvalidPreservation):
        preservation.read(
            session, evidence_id=evidence_id, actor="principal:1", purpose=" ", keys=runtime.keys
        )


@pytest.mark.parametrize(
    "changes",
    [{"legal_basis": "  "}, {"keep_for": timedelta(0)}, {"kind": ""}, {"payload": {"x": {1, 2}}}],
)
def test_careless_preservations_are_refused(runtime: Runtime, changes: dict[str, object]) -> None:
    with pytest.raises(InvalidPreservation):
        _preserve(runtime, **changes)
    with transaction(runtime.engine, readonly=True) as session:
        assert session.execute(sa.select(sa.func.count(PreservedEvidence.id))).scalar_one() == 0


def test_the_worker_purges_evidence_when_its_period_ends(
    runtime: Runtime, moved: MovableClock
) -> None:
    kept = _preserve(runtime, keep_for=SIX_MONTHS + timedelta(days=30))
    evidence_id = _preserve(runtime)
    worker = Worker(runtime)
    moved.offset = SIX_MONTHS - timedelta(minutes=5)
    worker.run_schedules()
    with transaction(runtime.engine, readonly=True) as session:
        assert session.get(PreservedEvidence, evidence_id).payload_ciphertext is not None  # type: ignore[union-attr]

    moved.offset = SIX_MONTHS + timedelta(minutes=5)
    worker.run_schedules()
    with transaction(runtime.engine, readonly=True) as session:
        purged = session.get(PreservedEvidence, evidence_id)
        assert purged is not None
        assert purged.payload_ciphertext is None
        assert purged.purged_at is not None
        # The metadata stays: what was kept, why and until when.
        assert purged.legal_basis.startswith("Regulation (EU) 2021/784")
        still = session.get(PreservedEvidence, kept)
        assert still is not None
        assert still.payload_ciphertext is not None
    with runtime.engine.connect() as connection:
        dump = repr(connection.execute(sa.text("SELECT * FROM preserved_evidence")).all())
    assert "Rejoignez" not in dump
    with transaction(runtime.engine) as session, pytest.raises(EvidencePurged):
        preservation.read(
            session, evidence_id=evidence_id, actor="principal:1", purpose="late", keys=runtime.keys
        )
    assert _actions(runtime, f"evidence:{evidence_id}") == [
        "preservation.evidence.preserved",
        "preservation.evidence.purged",
    ]
    # A second run finds nothing left to purge, and the log still verifies.
    with transaction(runtime.engine) as session:
        assert preservation.purge_expired(session, now=moved.now()) == 0
    audit.sign_head(runtime.engine, keys=runtime.keys, head_file=runtime.head_file)
    with transaction(runtime.engine, readonly=True) as session:
        bodies = [
            json.loads(b)
            for b in session.execute(
                sa.select(AuditEntry.body).where(AuditEntry.action.like("preservation.%"))
            ).scalars()
        ]
    assert all("Rejoignez" not in json.dumps(b) for b in bodies)
