"""What goes in and out of the legal domain: order claims, reviews, reads.

The claims follow the e-Evidence production order (Regulation 2023/1543, Annex I).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from rempart.auth.schemas import EnrolmentIssued, ProposalRead


class AuthorityKind(StrEnum):
    COURT = "court"
    INVESTIGATING_JUDGE = "investigating_judge"
    PROSECUTOR = "prosecutor"
    POLICE = "police"


class AuthorityStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    SUSPENDED = "suspended"


# Who may order what (e-Evidence Art. 4): subscriber and identification data, any judicial
# authority (police only when validated by one); traffic and content, a judge or court.
JUDICIAL_KINDS = frozenset(
    {AuthorityKind.COURT, AuthorityKind.INVESTIGATING_JUDGE, AuthorityKind.PROSECUTOR}
)
JUDGE_KINDS = frozenset({AuthorityKind.COURT, AuthorityKind.INVESTIGATING_JUDGE})


class DataCategory(StrEnum):
    SUBSCRIBER = "subscriber_data"
    IDENTIFICATION = "identification_data"
    TRAFFIC = "traffic_data"
    CONTENT = "content_data"


class EmergencyGround(StrEnum):
    """e-Evidence Art. 3(18): what makes an order an emergency, and nothing else does."""

    THREAT_TO_LIFE = "imminent_threat_to_life"
    THREAT_TO_PHYSICAL_INTEGRITY = "imminent_threat_to_physical_integrity"
    THREAT_TO_CRITICAL_INFRASTRUCTURE = "imminent_threat_to_critical_infrastructure"


class OnHoldReason(StrEnum):
    AUTHORITY_SUSPENDED = "authority_suspended"
    KEY_REVOKED = "key_revoked"


class Confirmation(StrEnum):
    """An emergency order released on one review: the second reviewer's verdict."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not_confirmed"


class CallbackOutcome(StrEnum):
    CONFIRMED = "confirmed"
    DENIED = "denied"
    UNREACHABLE = "unreachable"


class OrderType(StrEnum):
    PRODUCTION = "production"
    PRESERVATION = "preservation"
    # Orders to act: against illegal content (DSA Art. 9), and removal orders for
    # terrorist content (Regulation (EU) 2021/784, "TCO"). They disclose nothing.
    ACT = "act"
    REMOVAL = "removal"


ORDER_TYPES_TO_ACT = frozenset({OrderType.ACT, OrderType.REMOVAL})


class Competence(StrEnum):
    """What an authority is registered as competent to order, beyond information orders:
    each Member State designates who may issue TCO removal orders (TCO Art. 12) and who
    may order action against illegal content (DSA Art. 9)."""

    TCO_REMOVAL = "tco_removal"
    DSA_ORDERS_TO_ACT = "dsa_orders_to_act"


class ActOutcome(StrEnum):
    PENDING = "pending"
    ACTED = "acted"
    REFUSED = "refused"


class OffenceCategory(StrEnum):
    TERRORISM = "terrorism"
    CHILD_SEXUAL_ABUSE = "child_sexual_abuse"
    DRUG_TRAFFICKING = "drug_trafficking"
    WEAPONS_TRAFFICKING = "weapons_trafficking"
    FRAUD = "fraud"
    CYBERCRIME = "cybercrime"
    HUMAN_TRAFFICKING = "human_trafficking"
    HOMICIDE = "homicide"
    ORGANISED_CRIME = "organised_crime"
    HATE_CRIME = "hate_crime"
    THREATS = "threats"
    OTHER = "other"


class TargetKind(StrEnum):
    USER_ID = "user_id"
    USERNAME = "username"
    PHONE_NUMBER = "phone_number"


class OrderStatus(StrEnum):
    RECEIVED = "received"
    CHECKS_PASSED = "checks_passed"
    CHECKS_FAILED = "checks_failed"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REFUSED = "refused"
    PRESERVED = "preserved"
    DISCLOSED = "disclosed"
    # An order to act carried out: the content removed or disabled where it must be.
    ACTED = "acted"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


OPEN_STATUSES = frozenset(
    {
        OrderStatus.RECEIVED,
        OrderStatus.CHECKS_PASSED,
        OrderStatus.UNDER_REVIEW,
        OrderStatus.APPROVED,
        OrderStatus.PARTIALLY_APPROVED,
    }
)


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    REFUSE = "refuse"


class ChecklistAnswer(StrEnum):
    YES = "yes"
    NO = "no"
    NOT_APPLICABLE = "n/a"


class ChecklistItem(StrEnum):
    """The questions every reviewer answers; an approval needs "yes" to the first four."""

    ORDER_AUTHENTIC_AND_COMPLETE = "order_authentic_and_complete"
    TARGET_IS_SUSPECT = "target_is_suspect_in_criminal_case"
    OFFENCE_VIOLATES_TERMS = "offence_violates_terms"
    NECESSARY_AND_PROPORTIONATE = "necessary_and_proportionate"
    NO_IMMUNITY_OR_PRIVILEGE = "no_immunity_or_privilege"
    FUNDAMENTAL_RIGHTS_CONSIDERED = "fundamental_rights_considered"


REQUIRED_FOR_APPROVAL = (
    ChecklistItem.ORDER_AUTHENTIC_AND_COMPLETE,
    ChecklistItem.TARGET_IS_SUSPECT,
    ChecklistItem.OFFENCE_VIOLATES_TERMS,
    ChecklistItem.NECESSARY_AND_PROPORTIONATE,
)


class ProtectionCategory(StrEnum):
    PRESS = "press"
    NGO = "ngo"
    POLITICAL = "political"


class CheckResult(StrEnum):
    """The outcome of one automatic check of an order at intake."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    NOT_APPLICABLE = "not_applicable"


class TargetResolution(StrEnum):
    """What an order's identifier pointed at during the order's period."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    AMBIGUOUS = "ambiguous"


class RiskFlagCode(StrEnum):
    """Signals that call for extra care; some call for a call-back before release."""

    FIRST_ORDER = "first_order"
    VOLUME_SPIKE = "volume_spike"
    HIGH_REFUSAL_RATE = "high_refusal_rate"
    CONTACT_CHANGED_RECENTLY = "contact_changed_recently"
    MANY_TARGETS = "many_targets"
    EMERGENCY_OUTSIDE_WORKING_HOURS = "emergency_outside_working_hours"
    PROTECTED_TARGET = "protected_target"


class ActItemAction(StrEnum):
    """What the platform did to one item of an order to act."""

    REMOVED = "removed"
    GEO_RESTRICTED = "geo_restricted"
    # Deleted before the order was executed.
    GONE = "gone"


class RefusalGround(StrEnum):
    """The grounds of the e-Evidence Annex III form, as far as a platform can raise them."""

    INCOMPLETE_OR_MANIFEST_ERRORS = "incomplete_or_manifest_errors"
    NOT_COMPETENT = "issuing_authority_not_competent"
    OFFENCE_NOT_ELIGIBLE = "offence_not_eligible"
    NOT_A_SUSPECT = "target_not_shown_to_be_suspect"
    DATA_NOT_HELD = "data_not_held"
    TARGET_NOT_FOUND = "target_not_found"
    IMMUNITY_OR_PRIVILEGE = "immunity_or_privilege"
    FUNDAMENTAL_RIGHTS = "manifest_breach_of_fundamental_rights"
    DISPROPORTIONATE = "disproportionate"
    DE_FACTO_IMPOSSIBLE = "de_facto_impossible"
    OTHER = "other"


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Offence(_Closed):
    category: OffenceCategory
    description: Text
    max_penalty_years: int | None = Field(default=None, ge=0, le=100)
    violates_terms: bool


class Target(_Closed):
    kind: TargetKind
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class Period(_Closed):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end <= self.start:
            raise ValueError("the period must end after it starts")
        return self


class OrderDocumentRef(_Closed):
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    media_type: Literal["application/pdf"] = "application/pdf"
    filename: Annotated[str, StringConstraints(max_length=256)] | None = None


MAX_TARGETS = 100


class OrderClaims(_Closed):
    """The payload of an order's JWS."""

    iss: Code
    iat: int = Field(ge=0)
    exp: int = Field(ge=0)
    jti: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,128}$")]
    order_type: OrderType = OrderType.PRODUCTION
    validating_authority: Code | None = None
    case_reference: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)
    ]
    legal_basis: Text
    offence: Offence
    targets: list[Target] = Field(min_length=1, max_length=MAX_TARGETS)
    data_categories: list[DataCategory] = Field(min_length=1, max_length=4)
    period: Period
    # The validating judicial authority's countersignature (a compact JWS of
    # ``CountersignatureClaims``): naming a validator without it proves nothing.
    validation: Annotated[str, StringConstraints(min_length=1, max_length=8192)] | None = None
    emergency: bool = False
    emergency_ground: EmergencyGround | None = None
    emergency_justification: Text | None = None
    confidential_until: date | None = None
    preservation_reference: Annotated[str, StringConstraints(max_length=128)] | None = None
    document: OrderDocumentRef

    @model_validator(mode="after")
    def _consistent(self) -> OrderClaims:
        if self.exp <= self.iat:
            raise ValueError("exp must come after iat")
        if len(set(self.data_categories)) != len(self.data_categories):
            raise ValueError("each data category may be asked for once")
        if len(set(self.targets)) != len(self.targets):
            raise ValueError("each target may be named once")
        if self.emergency and not (self.emergency_justification and self.emergency_ground):
            raise ValueError(
                "an emergency order must name its ground (emergency_ground) and say why "
                "(emergency_justification)"
            )
        if not self.emergency and self.emergency_ground:
            raise ValueError("emergency_ground is only for emergency orders")
        if self.validation and not self.validating_authority:
            raise ValueError("a validation needs the validating_authority it comes from")
        return self


class CountersignedOrder(_Closed):
    """What a validating authority signs: one order of one issuer, with its document."""

    iss: Code
    jti: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,128}$")]
    document_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class CountersignatureClaims(_Closed):
    """The payload of a judicial authority's countersignature over a police order."""

    iss: Code
    iat: int = Field(ge=0)
    exp: int = Field(ge=0)
    jti: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,128}$")]
    countersigns: CountersignedOrder


class ValidationClaims(_Closed):
    """The payload of a judicial validation of an emergency order (within 48 h)."""

    iss: Code
    iat: int = Field(ge=0)
    exp: int = Field(ge=0)
    jti: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,128}$")]
    validates: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{8,128}$")]


# -- reads ------------------------------------------------------------------------------


class CheckRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    outcome: CheckResult
    # Machine-readable reason of a failure or warning (``countersignature_missing``, …).
    code: str | None = None
    detail: str
    checked_at: datetime


class RiskFlag(BaseModel):
    code: RiskFlagCode
    message: str


class TargetRead(BaseModel):
    position: int
    kind: TargetKind
    # Reviewers only: before a human decided, whether an identifier has an account must
    # not reach the authority, or orders become an existence oracle.
    resolution: TargetResolution | None = None
    # Only legal reviewers see the identifier (an audited read); authorities get it back
    # as they sent it, in their own order.
    value: str | None = None
    protected_category: ProtectionCategory | None = None
    approved: bool | None = None


class ReviewRead(BaseModel):
    reviewer: str
    decision: ReviewDecision
    approved_categories: list[DataCategory]
    approved_targets: list[int]
    checklist: dict[ChecklistItem, ChecklistAnswer]
    reasons: str
    refusal_grounds: list[RefusalGround]
    risk_flags: list[RiskFlag]
    created_at: datetime


class CallbackCreate(BaseModel):
    """A call-back to the authority's registered contact, as the reviewer made it."""

    model_config = ConfigDict(extra="forbid")

    called_at: AwareDatetime
    person_reached: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)
    ]
    outcome: CallbackOutcome
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] = ""


class CallbackRead(BaseModel):
    caller: str
    contact: str
    called_at: datetime
    person_reached: str
    outcome: CallbackOutcome
    notes: str
    recorded_at: datetime


class Refusal(BaseModel):
    """What the authority reads when its order, or part of it, is refused."""

    grounds: list[RefusalGround]
    reasons: str


class OrderRead(BaseModel):
    reference: str
    authority: str
    country: str
    order_type: OrderType
    status: OrderStatus
    case_reference: str
    offence_category: OffenceCategory
    legal_basis: str
    requested_categories: list[DataCategory]
    category_outcomes: dict[str, Any]
    period_start: datetime
    period_end: datetime
    emergency: bool
    emergency_ground: EmergencyGround | None = None
    validating_authority: str | None = None
    confidential_until: datetime | None
    received_at: datetime
    due_at: datetime
    overdue: bool
    # Set while the issuing authority is suspended or the order's key is revoked: review
    # may go on, release and download may not.
    on_hold: OnHoldReason | None = None
    on_hold_since: datetime | None = None
    acknowledged_at: datetime | None
    decided_at: datetime | None
    effected_at: datetime | None
    withdrawn_at: datetime | None
    validation_due_at: datetime | None
    validated_at: datetime | None
    validation_overdue: bool = False
    # Emergency orders released on one review: the second review due within 24 hours.
    second_review_due_at: datetime | None = None
    second_reviewed_at: datetime | None = None
    confirmation: Confirmation | None = None
    hold_expires_at: datetime | None
    refusal: Refusal | None
    targets: list[TargetRead]
    # Reviewer-only parts: empty in an authority's view.
    checks: list[CheckRead] = []
    risk_flags: list[RiskFlag] = []
    reviews: list[ReviewRead] = []
    # Why release waits for a recorded call-back to the authority's registered contact.
    callback_required: list[str] = []
    callbacks: list[CallbackRead] = []
    # Orders to act and removal orders: what was done, where and when.
    act: ActRead | None = None


class ActItemRead(BaseModel):
    position: int
    reference: str
    kind: Literal["post", "entity"]
    ref: str
    action: ActItemAction | None = None
    acted_at: datetime | None = None


class ActRead(BaseModel):
    """What the platform did about an order to act, as the authority and reviewers see it."""

    outcome: ActOutcome
    territorial_scope: list[str]
    statement_of_reasons: str
    delay_informing_owner: bool
    deadline_missed: bool
    confirmed_at: datetime | None = None
    reasons: str | None = None
    authority_informed_at: datetime | None = None
    minutes_to_act: float | None = None
    items: list[ActItemRead]


class OrderSummary(BaseModel):
    reference: str
    authority: str
    country: str
    order_type: OrderType
    status: OrderStatus
    emergency: bool
    received_at: datetime
    due_at: datetime
    overdue: bool
    targets: int
    on_hold: OnHoldReason | None = None
    confirmation: Confirmation | None = None
    act_outcome: ActOutcome | None = None


class AlertKind(StrEnum):
    OVERDUE = "overdue"
    SECOND_REVIEW_DUE = "second_review_due"
    EMERGENCY_NOT_CONFIRMED = "emergency_not_confirmed"
    VALIDATION_OVERDUE = "validation_overdue"
    ON_HOLD = "on_hold"
    CALLBACK_DENIED = "callback_denied"


class OrderAlert(BaseModel):
    """Something about an order that a legal reviewer or an admin must act on; no
    personal data, so admins see it too."""

    reference: str
    authority: str
    country: str
    kind: AlertKind
    since: datetime
    due_at: datetime | None = None


class OrderPage(BaseModel):
    items: list[OrderSummary]
    total: int
    limit: int
    offset: int


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: ReviewDecision
    checklist: dict[ChecklistItem, ChecklistAnswer]
    reasons: Text
    # Approvals: which of the held categories and which targets (positions); absent
    # means all that the order asks for and the checks let through.
    approved_categories: list[DataCategory] | None = None
    approved_targets: list[Annotated[int, Field(ge=0, lt=MAX_TARGETS)]] | None = None
    refusal_grounds: list[RefusalGround] = []

    @model_validator(mode="after")
    def _consistent(self) -> ReviewCreate:
        if self.decision is ReviewDecision.REFUSE and not self.refusal_grounds:
            raise ValueError("a refusal names at least one ground")
        return self


class ProtectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: ProtectionCategory


class ProtectedAccountRead(BaseModel):
    user_id: str
    category: ProtectionCategory
    marked_at: datetime


# -- authorities -------------------------------------------------------------------------


class AuthorityKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The public key as a JWK (kty OKP, crv Ed25519, x, kid).
    jwk: dict[str, Any]
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class AuthorityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]
    kind: AuthorityKind
    parent: Code | None = None
    contact: Annotated[str, StringConstraints(max_length=256)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    keys: list[AuthorityKeyCreate] = Field(default=[], max_length=10)
    verified: bool = False
    # Declared at registration; it takes effect with the two-admin verification.
    competences: list[Competence] = Field(default=[], max_length=4)


class AuthorityKeyRead(BaseModel):
    kid: str
    valid_from: datetime
    valid_until: datetime | None
    revoked_at: datetime | None


class AuthorityRead(BaseModel):
    code: str
    name: str
    country: str
    kind: AuthorityKind
    parent: str | None
    contact: str | None
    contact_changed_at: datetime | None = None
    timezone: str
    status: AuthorityStatus
    keys: list[AuthorityKeyRead]
    created_at: datetime
    competences: list[Competence] = []


class AuthorityCreated(BaseModel):
    authority: AuthorityRead
    # The code the authority redeems for its own token (POST /v1/auth/enrolments/redeem),
    # shown once: the registering admin hands it over and never holds the token.
    enrolment: EnrolmentIssued
    # With ``verified``: the verification proposal a second admin must confirm.
    verification: ProposalRead | None = None


class AuthorityContactChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=256)]


class AuthorityStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AuthorityStatus
