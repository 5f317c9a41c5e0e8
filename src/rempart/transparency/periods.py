"""Reporting periods: a quarter (``2026-Q3``) or a year (``2026``), as UTC half-open ranges.

The arithmetic lives in ``figures.py`` (which the standalone verifier carries); this
module adds the domain error and the publication calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from rempart.core.errors import Conflict, Invalid
from rempart.transparency.figures import Period, previous_quarters, quarter_of
from rempart.transparency.figures import parse_period as _parse_period

__all__ = [
    "PUBLICATION_DELAY",
    "InvalidPeriod",
    "Period",
    "PeriodNotEnded",
    "ensure_ended",
    "next_report_date",
    "parse",
    "previous_quarters",
    "quarter_of",
]

# Reports for a quarter are published this long after it ends.
PUBLICATION_DELAY = timedelta(days=15)


class InvalidPeriod(Invalid):
    code = "invalid_period"


class PeriodNotEnded(Conflict):
    code = "period_not_ended"


def parse(text: str) -> Period:
    try:
        return _parse_period(text)
    except ValueError as exc:
        raise InvalidPeriod(str(exc)) from None


def ensure_ended(period: Period, now: datetime) -> None:
    """A report covers a period that is over: figures of a quarter under way would change
    after publication, and a published report never changes."""
    if period.end > now:
        raise PeriodNotEnded(
            f"{period.name} has not ended: it can be reported from {period.end.date()} "
            f"(published by {report_date(period)}). Ask for a provisional view instead."
        )


def report_date(period: Period) -> date:
    return (period.end + PUBLICATION_DELAY).date()


def next_report_date(today: datetime) -> date:
    """When the report of the quarter under way will be published."""
    return report_date(quarter_of(today))
