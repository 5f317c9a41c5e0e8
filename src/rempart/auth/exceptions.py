from __future__ import annotations

from rempart.core.errors import Conflict, Invalid, RempartError


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
