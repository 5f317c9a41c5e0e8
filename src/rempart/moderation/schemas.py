from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from rempart.core.validators import NoNul


class DecisionAction(StrEnum):
    NO_VIOLATION = "no_violation"
    REMOVE_FROM_SEARCH = "remove_from_search"
    REMOVE_CONTENT = "remove_content"
    SUSPEND_ENTITY = "suspend_entity"
    SUSPEND_ACCOUNT = "suspend_account"


class ItemState(StrEnum):
    """Where a moderated post or entity stands."""

    VISIBLE = "visible"
    QUEUED = "queued"
    RESTRICTED = "restricted"
    REMOVED = "removed"
    SUSPENDED = "suspended"


class ItemKind(StrEnum):
    POST = "post"
    ENTITY = "entity"


class GroundType(StrEnum):
    ILLEGAL = "illegal"
    TERMS = "terms"


class QueueItem(BaseModel):
    id: int
    kind: ItemKind
    ref: str
    entity_id: str
    state: ItemState
    queue_reason: str | None
    category: str | None
    confidence: float
    priority: float
    # Every active reason to review the item, with its priority.
    reasons: dict[str, float]
    # Send it with a decision on an item you have not claimed: a change since is refused.
    version: int
    reach: int
    signals: list[dict[str, Any]]
    model_version: str
    text: str | None
    # Media as hashes, with a blurred preview where Rempart received the image itself
    # (``preview_url``); the original only through an audited reveal (``reveal_url``).
    media: list[dict[str, Any]]
    queued_at: datetime | None
    claimed_by: str | None
    claimed_until: datetime | None


class QueuePage(BaseModel):
    items: list[QueueItem]
    total: int


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: int = Field(ge=1, le=2**62)
    action: DecisionAction
    category: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,24}$")]
    ground_type: GroundType = GroundType.TERMS
    ground: Annotated[str, StringConstraints(max_length=500), NoNul] | None = None
    explanation: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), NoNul
    ]
    # A statement-of-reasons preset (``presets.py``) the explanation started from: unedited,
    # the owner reads it in their own language where known.
    preset: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,48}$")] | None = None
    # DSA Art. 23: mark the notices behind a "no violation" decision as manifestly
    # unfounded, or the content behind a restricting one as manifestly illegal.
    reports_unfounded: StrictBool = False
    manifestly_illegal: StrictBool = False
    # The item's version as read (see ``QueueItem.version``), to decide without a claim.
    version: int | None = Field(default=None, ge=0, le=2**62)
    # What is new since an appeal was decided, recorded with the decision.
    new_facts: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=10, max_length=2000), NoNul
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _art23_marks_fit_the_action(self) -> DecisionCreate:
        # A mark the action cannot carry would be dropped without a word: the moderator
        # would believe a reporter or an account had been marked when nobody was.
        if self.reports_unfounded and self.action is not DecisionAction.NO_VIOLATION:
            raise ValueError("notices can be marked manifestly unfounded only with no_violation")
        if self.manifestly_illegal and self.action is DecisionAction.NO_VIOLATION:
            raise ValueError("content decided as no_violation cannot be manifestly illegal")
        return self


class RevealRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=500), NoNul
    ] = Field(description="Why the blurred preview is not enough to decide.")


class DecisionRead(BaseModel):
    id: int
    item_id: int
    action: DecisionAction
    category: str
    ground_type: GroundType
    ground: str
    automation: str
    state: str
    statement_puid: str | None
    created_at: datetime


class NoticeView(BaseModel):
    """One notice as a moderator sees it: never who sent it."""

    id: int
    received_at: datetime
    channel: str
    category: str
    explanation: str
    reporter_kind: str  # email | platform_user | flagger | anonymous
    credibility: float | None
    # Part of the coordinated pattern raid detection found in its case.
    coordinated: bool


class RaidSignal(BaseModel):
    name: str
    value: float
    weight: float
    contribution: float


class CaseView(BaseModel):
    id: int
    state: str
    category: str
    reports: int
    reporters: int
    credible_reporters: float
    coordinated_reports: int
    trusted_flagger: bool
    priority: float
    raid_suspected: bool
    raid_score: float
    raid_signals: list[RaidSignal]
    # How the target weighs: 1 for an established item with a clean record, lower when
    # machines or earlier decisions agree with the notices.
    target_factor: float
    notices: list[NoticeView]


class AppealView(BaseModel):
    tracking_id: str
    decision_id: int
    party: str
    explanation: str
    state: str
    outcome: str | None
    received_at: datetime
    decided_by: str | None


class DecisionView(BaseModel):
    id: int
    action: str
    category: str
    ground_type: str
    automation: str
    explanation: str
    decided_by: str
    answered_appeals: int
    created_at: datetime


class ItemEvidence(BaseModel):
    item: QueueItem
    cases: list[CaseView]
    appeals: list[AppealView]
    history: list[DecisionView]
