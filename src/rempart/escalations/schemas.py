"""What goes in and out of the escalations API. ``EscalationRead`` carries no personal
data and is what moderators see; ``NotificationRead`` is the prepared notification
itself, read only by legal reviewers, each read audited."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rempart.core.validators import NoNul


class EscalationState(StrEnum):
    PREPARED = "prepared"
    # A legal reviewer confirmed: the worker sends it within seconds, outside any write
    # transaction, then records it sent.
    CONFIRMED = "confirmed"
    SENT = "sent"
    DECLINED = "declined"


class EscalationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: int = Field(ge=1, le=2**62)
    # What in the content suggests the offence: who is threatened, how, how soon.
    explanation: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=20, max_length=4000), NoNul
    ]
    # Where the potential victim is, when the content says so (ISO 3166 alpha-2). It comes
    # first: the authority that can protect the victim is the one that must hear.
    victim_country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


class EscalationDecline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=2000), NoNul
    ]


class EscalationRead(BaseModel):
    reference: str
    item_id: int
    item: str
    member_state: str | None
    member_state_basis: str
    recipient: str
    state: EscalationState
    escalated_by: str
    escalated_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decline_reason: str | None
    sent_at: datetime | None


class EscalationPage(BaseModel):
    items: list[EscalationRead]
    total: int


class NotificationRead(BaseModel):
    reference: str
    recipient: str
    member_state: str | None
    state: EscalationState
    notification: dict[str, Any]
