"""Errors of the preservation domain."""

from __future__ import annotations

from rempart.core.errors import NotFound, RempartError


class EvidenceNotFound(NotFound):
    code = "evidence_not_found"


class EvidencePurged(RempartError):
    """The legal period ended and the content was erased: nothing is left to read."""

    status_code = 410
    code = "evidence_purged"


class InvalidPreservation(RempartError):
    status_code = 422
    code = "invalid_preservation"
