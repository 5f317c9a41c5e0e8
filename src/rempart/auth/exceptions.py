from __future__ import annotations

from rempart.core.errors import Conflict, Invalid, NotFound, RempartError


class Unauthenticated(RempartError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(RempartError):
    status_code = 403
    code = "forbidden"


class UnknownRole(Invalid):
    code = "unknown_role"


class PrincipalExists(Conflict):
    code = "principal_exists"


class OtherPrincipal(Conflict):
    """A credential was asked for a principal other than the caller."""

    code = "other_principal"


class FourEyesRequired(Conflict):
    code = "four_eyes_required"


class EnrolmentInvalid(RempartError):
    """Unknown, used or expired: one answer for all, so a guess learns nothing."""

    status_code = 400
    code = "enrolment_invalid"


class ProposalNotFound(NotFound):
    code = "proposal_not_found"


class ProposalClosed(Conflict):
    code = "proposal_closed"


class TokenNotFound(NotFound):
    code = "token_not_found"


class LoginNotFound(NotFound):
    code = "login_not_found"
