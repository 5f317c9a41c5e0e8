"""What the platform side records in the audit log: ingestion, retention, key rotation,
the monthly count of active recipients, the Matrix adapter's actions, demo seeding.
The transparency figures read ``ActiveRecipientsCounted``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field

from rempart.audit.events import AuditEvent


class BatchIngested(AuditEvent):
    action: ClassVar[str] = "platform.ingest"
    batch_digest: str
    stored_by_type: dict[str, int]
    stored: int
    duplicates: int


class MediaHashed(AuditEvent):
    action: ClassVar[str] = "platform.media.hash"
    hashed: int


class RetentionPurged(AuditEvent):
    action: ClassVar[str] = "platform.retention.purge"
    cutoff: str
    purged: int
    held_records_remain: bool
    retention_days: int


class ActiveRecipientsCounted(AuditEvent):
    """Counts only: who connected stays in the connections table."""

    action: ClassVar[str] = "platform.active_recipients"
    month: str
    recipients: int
    outside_or_unknown: int
    by_member_state: dict[str, int]


# -- the Matrix adapter ------------------------------------------------------------------


class IdentitiesRedated(AuditEvent):
    action: ClassVar[str] = "platform.identities_redated"
    adapter: str
    replaced_rows: int
    replaced_from: list[str]
    dated_from: list[str]
    source: str


class PlatformActionSettled(AuditEvent):
    adapter: str
    # The platform action carried (``remove``, ``geo_restrict``…), not the audit action.
    platform_action: str = Field(
        serialization_alias="action",
        validation_alias=AliasChoices("action", "platform_action"),
    )
    decision_id: int | None
    attempts: int
    error: str | None


class PlatformActionDone(PlatformActionSettled):
    action: ClassVar[str] = "platform.action_done"


class PlatformActionFailed(PlatformActionSettled):
    action: ClassVar[str] = "platform.action_failed"


class PlatformActionCancelled(PlatformActionSettled):
    action: ClassVar[str] = "platform.action_cancelled"


class MatrixAppealReceived(AuditEvent):
    action: ClassVar[str] = "platform.matrix_appeal"
    adapter: str
    event: str
    # What the user typed is kept only when it is a reference of Rempart's.
    reference: str | None
    outcome: str
    appeal: str | None


# -- keys --------------------------------------------------------------------------------


class KeysRotated(AuditEvent):
    action: ClassVar[str] = "keys.rotate"
    key_id: str
    reencrypted: int


class TableReencrypted(AuditEvent):
    action: ClassVar[str] = "keys.reencrypt"
    table: str
    rows: int
    key_id: str


# -- the demo ----------------------------------------------------------------------------


class DemoSeeded(AuditEvent):
    action: ClassVar[str] = "demo.seed"
    accounts: int
    connections: int
    entities: int
    posts: int


class DemoLegalSeeded(AuditEvent):
    action: ClassVar[str] = "demo.seed.legal"


class DemoReportsSeeded(AuditEvent):
    action: ClassVar[str] = "demo.seed.reports"
    sent: int
