from __future__ import annotations

from rempart.core.errors import Conflict, Invalid, NotFound


class UnknownTreeHead(NotFound):
    code = "unknown_tree_head"


class EntryOutsideTree(Invalid):
    code = "entry_outside_tree"


class AuditLogBroken(Conflict):
    """The stored log no longer matches what was signed; `rempart audit verify` says where."""

    code = "audit_log_broken"


class PersonalDataInAudit(ValueError):
    """A programming error: an audit entry must never carry a clear phone number or IP."""
