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


class SubmissionsSuspended(Forbidden):
    """Art. 23(2): the processing of this complainant's complaints is suspended."""

    code = "submissions_suspended"


class ComplaintNotUpheld(Conflict):
    """Only a complaint decided, with the decision upheld, can be manifestly unfounded."""

    code = "complaint_not_upheld"


class ComplaintAlreadyMarked(Conflict):
    code = "complaint_already_marked"


class RaidTargetProtected(Conflict):
    """The owner's complaint against a decision on a case marked as a raid: never counted
    against them, so that a raid cannot silence the channel it targets."""

    code = "raid_target_protected"


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
