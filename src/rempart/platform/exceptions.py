from __future__ import annotations

from typing import Any

from rempart.core.errors import Invalid, RempartError


class InvalidEvents(Invalid):
    """The batch was refused whole: nothing of it is stored."""

    code = "invalid_events"

    def __init__(
        self, message: str, *, code: str | None = None, items: list[dict[str, Any]]
    ) -> None:
        super().__init__(message, code=code)
        self.details = {"items": items}


class PrivateContentRefused(InvalidEvents):
    code = "private_content_refused"


class PayloadTooLarge(RempartError):
    status_code = 413
    code = "payload_too_large"
