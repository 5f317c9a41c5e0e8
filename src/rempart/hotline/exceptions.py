"""Errors of the hotline domain."""

from __future__ import annotations

from rempart.core.errors import NotFound


class HotlineReportNotFound(NotFound):
    code = "hotline_report_not_found"
