"""What evidence preservation records in the audit log (the evidence itself never)."""

from __future__ import annotations

from typing import ClassVar

from rempart.audit.events import AuditEvent


class EvidencePreserved(AuditEvent):
    action: ClassVar[str] = "preservation.evidence.preserved"
    kind: str
    item_id: int | None
    purge_after: str
    bytes: int


class EvidenceRead(AuditEvent):
    action: ClassVar[str] = "preservation.evidence.read"
    kind: str
    purpose: str


class EvidencePurged(AuditEvent):
    action: ClassVar[str] = "preservation.evidence.purged"
    kind: str
    purge_after: str
