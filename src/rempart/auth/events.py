"""What authentication and the console's sign-in record in the audit log.

Targets are ``principal:<id>`` or ``proposal:<id>``. Usernames are chosen by admins for
staff and are not personal data of platform users; tokens appear by prefix only.
"""

from __future__ import annotations

from typing import ClassVar

from rempart.audit.events import AuditEvent


class PrincipalCreated(AuditEvent):
    action: ClassVar[str] = "auth.principal.create"
    role: str
    status: str


class TokenCreated(AuditEvent):
    action: ClassVar[str] = "auth.token.create"
    token_id: int
    # The first characters only: enough to recognise a token, never to use it.
    prefix: str
    expires_at: str | None


class TokenRevoked(AuditEvent):
    action: ClassVar[str] = "auth.token.revoke"
    token_id: int
    prefix: str


class EnrolmentOpened(AuditEvent):
    action: ClassVar[str] = "auth.enrolment.enrol"
    expires_at: str


class TotpResetOpened(AuditEvent):
    action: ClassVar[str] = "auth.enrolment.totp_reset"
    expires_at: str


class EnrolmentRedeemed(AuditEvent):
    action: ClassVar[str] = "auth.enrolment.redeem"
    purpose: str


class GrantProposed(AuditEvent):
    """The proposal's public payload rides along (a role grant's name and role, an
    authority's code and kids, a key's validity); the key material itself never does."""

    action: ClassVar[str] = "auth.grant.propose"
    omitted_when_none: ClassVar[frozenset[str]] = frozenset(
        {"name", "role", "authority", "keys", "kid", "valid_from", "valid_until"}
    )
    kind: str
    subject: str
    name: str | None = None
    role: str | None = None
    authority: str | None = None
    keys: list[str] | None = None
    kid: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None


class GrantConfirmed(AuditEvent):
    action: ClassVar[str] = "auth.grant.confirm"
    kind: str
    subject: str
    proposed_by: int


class GrantRejected(AuditEvent):
    action: ClassVar[str] = "auth.grant.reject"
    kind: str
    subject: str


# -- the console's sign-in ---------------------------------------------------------------


class LoginCreated(AuditEvent):
    action: ClassVar[str] = "web.login.create"
    username: str


class SignInFailed(AuditEvent):
    action: ClassVar[str] = "web.sign_in.failed"
    locked: bool


class SignedIn(AuditEvent):
    action: ClassVar[str] = "web.sign_in"


class TotpSet(AuditEvent):
    action: ClassVar[str] = "web.login.totp_set"
    username: str


class LoginDisabled(AuditEvent):
    action: ClassVar[str] = "web.login.disable"
    username: str
