from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from rempart.auth.permissions import Role

PrincipalName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w .@\-]+$")
]
AuthorityCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]


class PrincipalStatus(StrEnum):
    # Created by an enrolment code, active once the code is redeemed.
    ENROLLING = "enrolling"
    ACTIVE = "active"


class PrincipalRead(BaseModel):
    id: int
    name: str
    role: Role
    status: PrincipalStatus
    created_at: datetime


class TokenCreated(BaseModel):
    """The only time the token is shown: Rempart keeps just its hash."""

    principal: PrincipalRead
    token: str
    prefix: str
    id: int
    expires_at: datetime | None


class TokenRead(BaseModel):
    id: int
    principal: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class EnrolmentIssued(BaseModel):
    """The one-time code, shown once, to hand to the person out of band."""

    principal: str
    role: Role
    purpose: str
    code: str
    expires_at: datetime
    # A privileged grant's code works only with the proposing admin's half as well.
    needs_second_code: bool = False


class ProposalKind(StrEnum):
    ROLE_GRANT = "role_grant"
    AUTHORITY_VERIFICATION = "authority_verification"
    AUTHORITY_KEY = "authority_key"


class ProposalStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ProposalRead(BaseModel):
    id: int
    kind: ProposalKind
    subject: str
    details: dict[str, Any]
    status: ProposalStatus
    proposed_by: str
    proposed_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None


class ProposalFiled(ProposalRead):
    # For a role grant: the proposing admin's half of the person's enrolment code, shown
    # once. The confirming admin gets the other half; the person needs both, so neither
    # admin alone can enrol in their place.
    code_part: str | None = None


class ProposalDecided(BaseModel):
    proposal: ProposalRead
    # For a role grant: the new person's enrolment code, shown once to the confirming
    # admin, who hands it over. The proposer never sees it.
    enrolment: EnrolmentIssued | None = None


class LoginRead(BaseModel):
    username: str
    principal: str
    status: str
    created_at: datetime


class RoleGrantProposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[ProposalKind.ROLE_GRANT]
    role: Role
    name: PrincipalName


class AuthorityVerificationProposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[ProposalKind.AUTHORITY_VERIFICATION]
    authority: AuthorityCode


class AuthorityKeyProposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[ProposalKind.AUTHORITY_KEY]
    authority: AuthorityCode
    # The public key as a JWK (kty OKP, crv Ed25519, x, kid).
    jwk: dict[str, Any]
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


ProposalCreate = Annotated[
    RoleGrantProposal | AuthorityVerificationProposal | AuthorityKeyProposal,
    Field(discriminator="kind"),
]
