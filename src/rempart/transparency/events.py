"""What the transparency domain records in the audit log."""

from __future__ import annotations

from typing import ClassVar

from rempart.audit.events import AuditEvent


class ReportPublished(AuditEvent):
    action: ClassVar[str] = "transparency.report.published"
    kind: str
    period: str
    tree_size: int
