from __future__ import annotations

from rempart.core.errors import Invalid, NotFound


class UnknownTreeHead(NotFound):
    code = "unknown_tree_head"


class EntryOutsideTree(Invalid):
    code = "entry_outside_tree"


class PersonalDataInAudit(ValueError):
    """A programming error: an audit entry must never carry a clear phone number or IP."""
