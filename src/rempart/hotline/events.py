"""What hotline reports record in the audit log. The transparency figures read
``ReportSent``."""

from __future__ import annotations

from typing import ClassVar

from rempart.audit.events import AuditEvent


class ReportOpened(AuditEvent):
    action: ClassVar[str] = "hotline.report.opened"
    trigger: str
    item: str


class ReportSent(AuditEvent):
    action: ClassVar[str] = "hotline.report.sent"
    trigger: str
    files: int
    evidence: int
    confirmed_by_moderator: bool


class AccountSuspended(AuditEvent):
    action: ClassVar[str] = "hotline.account.suspended"
    report: str
    # No end date; a person reviews the suspension from this date (ISO 8601).
    until: str | None = None
    review_at: str | None = None
