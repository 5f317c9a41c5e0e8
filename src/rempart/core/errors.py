"""The base of every domain error. ``app.py`` maps them to HTTP once."""

from __future__ import annotations

from typing import Any


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
