"""Reporting periods: a quarter (``2026-Q3``) or a year (``2026``), as UTC half-open ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from rempart.core.errors import Invalid

_PERIOD = re.compile(r"^(?P<year>\d{4})(?:-Q(?P<quarter>[1-4]))?$")
# Reports for a quarter are published this long after it ends.
PUBLICATION_DELAY = timedelta(days=15)


class InvalidPeriod(Invalid):
    code = "invalid_period"


@dataclass(frozen=True)
class Period:
    name: str
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def _quarter(year: int, quarter: int) -> Period:
    start = datetime(year, 3 * quarter - 2, 1, tzinfo=UTC)
    end = datetime(year + quarter // 4, (3 * quarter) % 12 + 1, 1, tzinfo=UTC)
    return Period(f"{year}-Q{quarter}", start, end)


def parse(text: str) -> Period:
    match = _PERIOD.match(text.strip())
    if match is None or not 2000 <= int(match["year"]) <= 2100:
        raise InvalidPeriod("A period is a quarter like 2026-Q3 or a year like 2026.")
    year = int(match["year"])
    if match["quarter"]:
        return _quarter(year, int(match["quarter"]))
    return Period(str(year), datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))


def quarter_of(moment: datetime) -> Period:
    return _quarter(moment.year, (moment.month - 1) // 3 + 1)


def previous_quarters(period: Period, count: int) -> list[Period]:
    """The ``count`` quarters ending with the one ``period`` ends in, oldest first."""
    current = quarter_of(period.end - timedelta(microseconds=1))
    quarters = [current]
    while len(quarters) < count:
        quarters.append(quarter_of(quarters[-1].start - timedelta(days=1)))
    return quarters[::-1]


def next_report_date(today: datetime) -> date:
    """When the report of the quarter under way will be published."""
    return (quarter_of(today).end + PUBLICATION_DELAY).date()
