"""Every permission, and which role holds it: the one place to read who may do what."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PLATFORM = "platform"
    AUTHORITY = "authority"
    LEGAL = "legal"
    MODERATOR = "moderator"
    FLAGGER = "flagger"
    ADMIN = "admin"
    AUDITOR = "auditor"


class Permission(StrEnum):
    INGEST_EVENTS = "platform:events:ingest"
    AUDIT_ENTRIES_READ = "audit:entries:read"
    AUDIT_HEAD_SIGN = "audit:head:sign"
    TOKENS_MANAGE = "auth:tokens:manage"
    PRINCIPALS_READ = "auth:principals:read"
    ORDERS_SUBMIT = "legal:orders:submit"
    ORDERS_REVIEW = "legal:orders:review"
    ORDERS_READ_OWN = "legal:orders:read-own"
    DISCLOSURES_DOWNLOAD = "legal:disclosures:download"
    DISCLOSURES_RELEASE = "legal:disclosures:release"
    AUTHORITIES_MANAGE = "legal:authorities:manage"
    AUTHORITIES_READ = "legal:authorities:read"
    LEGAL_ALERTS_READ = "legal:alerts:read"
    PROTECTED_ACCOUNTS_MARK = "platform:protected-accounts:mark"
    MODERATION_DECIDE = "moderation:decisions:create"
    # Items moderators escalated to the legal team, with their notes; answered by legal.
    ESCALATIONS_ANSWER = "moderation:escalations:answer"
    REPORTS_VOUCH = "reports:reporter:vouch"
    TRANSPARENCY_PUBLISH = "transparency:reports:publish"
    WHOAMI = "auth:self:read"
    # Every principal may list, create and revoke its own tokens (never anyone else's).
    OWN_TOKENS = "auth:self:tokens"
    ENROLMENTS_CREATE = "auth:enrolments:create"
    LOGINS_MANAGE = "auth:logins:manage"
    # Privileged changes: one admin proposes, a different admin confirms.
    GRANTS_MANAGE = "auth:grants:manage"
    # Who was granted what: the legal reviewers see it, as those a rogue grant would hurt.
    GRANTS_READ = "auth:grants:read"
    # DSA Art. 18: a moderator escalates a threat to life or safety; a legal reviewer,
    # never the same principal, confirms the notification to the authority.
    ESCALATIONS_CREATE = "moderation:escalations:create"
    ESCALATIONS_CONFIRM = "legal:escalations:confirm"
    # The list of child sexual abuse reports sent to the hotline (metadata, no media).
    HOTLINE_REPORTS_READ = "moderation:hotline-reports:read"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PLATFORM: frozenset(
        {Permission.INGEST_EVENTS, Permission.REPORTS_VOUCH, Permission.PROTECTED_ACCOUNTS_MARK}
    ),
    Role.AUTHORITY: frozenset(
        {Permission.ORDERS_SUBMIT, Permission.ORDERS_READ_OWN, Permission.DISCLOSURES_DOWNLOAD}
    ),
    Role.LEGAL: frozenset(
        {
            Permission.ORDERS_REVIEW,
            Permission.DISCLOSURES_RELEASE,
            Permission.DISCLOSURES_DOWNLOAD,
            Permission.AUTHORITIES_READ,
            Permission.LEGAL_ALERTS_READ,
            Permission.GRANTS_READ,
            Permission.ESCALATIONS_ANSWER,
            Permission.ESCALATIONS_CONFIRM,
            Permission.HOTLINE_REPORTS_READ,
        }
    ),
    Role.MODERATOR: frozenset(
        {
            Permission.MODERATION_DECIDE,
            Permission.ESCALATIONS_CREATE,
            Permission.HOTLINE_REPORTS_READ,
        }
    ),
    Role.FLAGGER: frozenset({Permission.REPORTS_VOUCH}),
    Role.ADMIN: frozenset(
        {
            Permission.TOKENS_MANAGE,
            Permission.PRINCIPALS_READ,
            Permission.AUDIT_HEAD_SIGN,
            Permission.AUTHORITIES_MANAGE,
            Permission.AUTHORITIES_READ,
            Permission.LEGAL_ALERTS_READ,
            Permission.ENROLMENTS_CREATE,
            Permission.LOGINS_MANAGE,
            Permission.GRANTS_MANAGE,
            Permission.GRANTS_READ,
            Permission.TRANSPARENCY_PUBLISH,
        }
    ),
    Role.AUDITOR: frozenset(
        {
            Permission.AUDIT_ENTRIES_READ,
            Permission.PRINCIPALS_READ,
            Permission.AUTHORITIES_READ,
            Permission.GRANTS_READ,
        }
    ),
}


SELF_SERVICE = frozenset({Permission.WHOAMI, Permission.OWN_TOKENS})


def role_has(role: Role, permission: Permission) -> bool:
    return permission in SELF_SERVICE or permission in ROLE_PERMISSIONS[role]
