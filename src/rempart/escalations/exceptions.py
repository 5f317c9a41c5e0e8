"""Errors of the escalations domain."""

from __future__ import annotations

from rempart.core.errors import Conflict, Invalid, NotFound, RempartError


class EscalationNotFound(NotFound):
    code = "escalation_not_found"


class OwnEscalation(RempartError):
    """Four eyes: whoever escalated a threat does not confirm its notification."""

    status_code = 403
    code = "own_escalation"


class EscalationDecided(Conflict):
    code = "escalation_decided"


class AlreadyEscalated(Conflict):
    code = "already_escalated"


class NotEscalable(Invalid):
    code = "not_escalable"
