"""The base of every domain error. ``app.py`` maps them to HTTP once."""

from __future__ import annotations

import re
from typing import Any

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def safe_location_part(part: Any) -> str:
    """A part of an error's location as the caller may see it. An unknown field's name is
    the caller's own key, so it could be anything (a phone number, a megabyte): only names
    shaped like field names are echoed."""
    if isinstance(part, int) or (isinstance(part, str) and _FIELD_NAME.fullmatch(part)):
        return str(part)
    return "*"


class RempartError(Exception):
    """An error whose ``code`` is machine-readable and whose message is safe to show.

    Messages never contain submitted values: error bodies must not echo personal data.
    """

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def headers(self) -> dict[str, str] | None:
        # RFC 6750: a 401 names the scheme the client should use.
        return {"WWW-Authenticate": "Bearer"} if self.status_code == 401 else None


class NotFound(RempartError):
    status_code = 404
    code = "not_found"


class Conflict(RempartError):
    status_code = 409
    code = "conflict"


class Invalid(RempartError):
    status_code = 422
    code = "invalid"


class ConfigurationError(RempartError):
    """Raised at start-up; never reaches a client."""

    status_code = 500
    code = "configuration_error"


class RateLimited(RempartError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)}


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    """The one shape of every error answer: ``{"error": {"code", "message", ...}}``."""
    return {"error": {"code": code, "message": message, **details}}
