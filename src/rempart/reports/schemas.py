from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from rempart.core.validators import NoNul

Category = Literal[
    "drug_sales",
    "weapons",
    "scams_fraud",
    "piracy",
    "terrorism",
    "hate_speech",
    "csam_indicators",
    "doxxing",
    "spam",
    "other",
]
# Platform ids, Matrix's included: @user:server, !room, $event (base64, maybe with + / =).
Ref = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@!$+/=-]{1,128}$")]


Explanation = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=10, max_length=5000), NoNul
]
UserId = Ref


class Target(BaseModel):
    """A post or an entity by id, or a public link to either."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["post", "entity"] | None = None
    id: Ref | None = None
    url: Annotated[str, StringConstraints(max_length=2048), NoNul] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Target:
        if (self.url is None) == (self.kind is None or self.id is None):
            if self.url is None:
                raise ValueError("give either kind and id, or url")
            raise ValueError("give either kind and id, or url, not both")
        return self


class ReporterContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul
    ]
    email: EmailStr


class ReportCreate(BaseModel):
    """A notice with the fields of DSA Art. 16(2)."""

    model_config = ConfigDict(extra="forbid")

    target: Target
    category: Category
    explanation: Explanation
    # Who reports: a name and email; or, for a platform's token, the user it vouches for;
    # or nobody, for child sexual abuse only; a trusted flagger's token speaks for itself.
    reporter: ReporterContact | None = None
    platform_user_id: UserId | None = None
    good_faith: StrictBool = Field(
        description="The reporter confirms the notice is accurate and complete, in good faith."
    )


class ReportReceipt(BaseModel):
    tracking_id: str
    status: Literal["received"]
    received_at: datetime
    message: str


class ReportBatch(BaseModel):
    """Notices a platform forwards (or a trusted flagger sends) in one request."""

    model_config = ConfigDict(extra="forbid")

    notices: Annotated[list[ReportCreate], Field(min_length=1, max_length=500)]


class BatchOutcome(BaseModel):
    """One notice of a batch: received with its tracking id, or refused with the code a
    single request would have answered."""

    index: int
    status: Literal["received", "refused"]
    tracking_id: str | None = None
    code: str | None = None
    message: str | None = None


class BatchReceipt(BaseModel):
    received: int
    refused: int
    received_at: datetime
    outcomes: list[BatchOutcome]


class ReportStatus(BaseModel):
    tracking_id: str
    category: str
    outcome: str
    received_at: datetime


class BotMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform_user_id: UserId
    text: Annotated[str, StringConstraints(max_length=4000), NoNul]
    language: Literal["fr", "en"] | None = None


class BotReply(BaseModel):
    reply: str
    language: Literal["fr", "en"]
    # asking_for_link, asking_for_reason, reported, or refused.
    state: str
    tracking_id: str | None = None


class AppealCreate(BaseModel):
    """With the secret from the link sent with a statement of reasons or a decision notice;
    or, for a platform's token, the statement's puid and the user it vouches for."""

    model_config = ConfigDict(extra="forbid")

    secret: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{20,64}$")] | None = None
    decision_id: int | None = Field(default=None, ge=1, le=2**62)
    platform_user_id: UserId | None = None
    explanation: Explanation


class AppealReceipt(BaseModel):
    tracking_id: str
    status: Literal["received"]
    received_at: datetime


class ComplaintUnfoundedRead(BaseModel):
    """A complaint marked manifestly unfounded (DSA Art. 23(2))."""

    tracking_id: str
    party: str
    unfounded_at: datetime


class AppealStatus(BaseModel):
    tracking_id: str
    state: str
    outcome: str | None
    received_at: datetime
    decided_at: datetime | None
