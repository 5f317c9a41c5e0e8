from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class DecisionAction(StrEnum):
    NO_VIOLATION = "no_violation"
    REMOVE_FROM_SEARCH = "remove_from_search"
    REMOVE_CONTENT = "remove_content"
    SUSPEND_ENTITY = "suspend_entity"
    SUSPEND_ACCOUNT = "suspend_account"


class GroundType(StrEnum):
    ILLEGAL = "illegal"
    TERMS = "terms"


class QueueItem(BaseModel):
    id: int
    kind: str
    ref: str
    entity_id: str
    state: str
    queue_reason: str | None
    category: str | None
    confidence: float
    priority: float
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
    ground: Annotated[str, StringConstraints(max_length=500)] | None = None
    explanation: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ]
    # DSA Art. 23: mark the notices behind a "no violation" decision as manifestly
    # unfounded, or the content behind a restricting one as manifestly illegal.
    reports_unfounded: bool = False
    manifestly_illegal: bool = False


class RevealRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=500)
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
