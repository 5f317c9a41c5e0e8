from __future__ import annotations

from rempart.auth.exceptions import Forbidden
from rempart.core.errors import Conflict, Invalid, NotFound


class TargetNotFound(NotFound):
    code = "target_not_found"


class InvalidLink(Invalid):
    code = "invalid_link"


class ReporterRequired(Invalid):
    code = "reporter_required"


class GoodFaithRequired(Invalid):
    code = "good_faith_required"


class PlatformUserRequired(Invalid):
    code = "platform_user_required"


class ReporterSuspended(Forbidden):
    code = "reporter_suspended"


class ReportNotFound(NotFound):
    code = "report_not_found"


class AppealNotAllowed(Forbidden):
    code = "not_a_party"


class AppealLinkInvalid(Forbidden):
    code = "appeal_link_invalid"


class AppealWindowClosed(Conflict):
    code = "appeal_window_closed"


class AppealExists(Conflict):
    code = "appeal_exists"


class DecisionSuperseded(Conflict):
    code = "decision_superseded"


class SecondModeratorRequired(Forbidden):
    code = "second_moderator_required"


class AppealNotFound(NotFound):
    code = "appeal_not_found"


class NothingToAppeal(Conflict):
    """The owner appeals a restriction; a reporter appeals a refusal to act."""

    code = "nothing_to_appeal"
