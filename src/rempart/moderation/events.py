"""What moderation records in the audit log. Targets are the item (``post:<id>``,
``entity:<id>``); notes' and decisions' texts stay in their tables, never in the log.
The transparency figures read ``DecisionTaken`` and ``ItemRestricted``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field

from rempart.audit.events import AuditEvent


class ItemClaimed(AuditEvent):
    action: ClassVar[str] = "moderation.item.claimed"


class DecisionTaken(AuditEvent):
    action: ClassVar[str] = "moderation.decision"
    # The restriction decided (``remove``, ``no_violation``…), not the audit action.
    action_taken: str = Field(
        serialization_alias="action", validation_alias=AliasChoices("action", "action_taken")
    )
    category: str | None
    ground_type: str | None
    automation: str | None
    statement: str | None
    appeals: int
    # Free text a moderator wrote (what is new since an appeal): the guard refuses a phone
    # number or IP in it, and it is never published.
    new_facts: str | None
    preset: str | None


class ItemRestricted(AuditEvent):
    """A restriction the classifiers applied on their own."""

    action: ClassVar[str] = "moderation.item.restricted"
    category: str
    ground_type: str
    score: float
    automated: bool
    model_version: str
    signals: list[str]


class ScanSummary(AuditEvent):
    scanned: int
    visible: int
    queued: int
    restricted: int
    removed: int
    kept_human_decision: int
    automated: bool
    model_version: str


class PostsScanned(ScanSummary):
    action: ClassVar[str] = "moderation.scan.posts"


class EntitiesScanned(ScanSummary):
    action: ClassVar[str] = "moderation.scan.entities"


class RescanPlanned(AuditEvent):
    action: ClassVar[str] = "moderation.rescan.planned"
    reason: str
    jobs: int
    items: int
    media_only: bool
    # Items whose text and classifier are unchanged keep the classifier's stored answer.
    reuse_scores: bool = False


class BanksImported(AuditEvent):
    action: ClassVar[str] = "moderation.banks.import"
    file: str
    read: int
    added: int
    skipped_low_quality: int
    banks: list[str]


class MediaRevealed(AuditEvent):
    action: ClassVar[str] = "moderation.media.revealed"
    media_id: int
    reason: str


class MediaPurged(AuditEvent):
    action: ClassVar[str] = "moderation.media.purged"
    purged: int


class NoteAdded(AuditEvent):
    action: ClassVar[str] = "moderation.note.added"
    note_id: int


class Escalated(AuditEvent):
    action: ClassVar[str] = "moderation.escalated"
    note_id: int


class EscalationClosed(AuditEvent):
    action: ClassVar[str] = "moderation.escalation.closed"
    note_id: int


class WellbeingUpdated(AuditEvent):
    action: ClassVar[str] = "moderation.wellbeing.updated"
    blur_level: int
    greyscale: bool
    daily_reveal_cap: int


class DecisionRefused(AuditEvent):
    """A decision refused because an order to act keeps the item down (409
    ``removed_by_order``), recorded in its own transaction."""

    action: ClassVar[str] = "moderation.decision.refused"
    code: str
    order_action: str | None = None
