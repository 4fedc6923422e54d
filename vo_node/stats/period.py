"""The span of time a report covers, from the operator's ``from`` and ``until`` (both
optional, inclusive, UTC): a day ``2024-05-31`` or a month ``2024-05``. Must not import Flask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")
_MONTH = re.compile(r"(\d{4})-(\d{2})\Z")


class PeriodError(ValueError):
    """A ``from`` or ``until`` that is not a date, said in words for the operator."""


@dataclass(frozen=True)
class Period:
    """``start <= at < end``; ``None`` is open."""

    start: datetime | None = None
    end: datetime | None = None

    def describe(self) -> str:
        if self.start is None and self.end is None:
            return "all time"
        first = self.start.date().isoformat() if self.start else "the beginning"
        last = (self.end - timedelta(days=1)).date().isoformat() if self.end else "now"
        return f"{first} to {last} (UTC)"


def _first_and_next(text: str, name: str) -> tuple[date, date]:
    """The first day ``text`` covers and the day after its last."""
    shape = _DAY.match(text) or _MONTH.match(text)
    # (the day after 9999-12-31 is beyond Python's dates)
    if shape and not 1900 <= int(shape[1]) <= 9998:
        raise PeriodError(f"{name}={text!r}: the year must be between 1900 and 9998")
    try:
        if day := _DAY.match(text):
            first = date(int(day[1]), int(day[2]), int(day[3]))
            return first, first + timedelta(days=1)
        if month := _MONTH.match(text):
            first = date(int(month[1]), int(month[2]), 1)
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return first, following
    except ValueError:
        pass  # 2024-13, 2024-02-30: said below like any other bad value
    raise PeriodError(f"{name}={text!r} is not a date: write YYYY-MM-DD or YYYY-MM")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_period(since: str | None, until: str | None) -> Period:
    """The period from ``since`` (its first day) to ``until`` (its last day, included)."""
    start = _midnight(_first_and_next(since.strip(), "from")[0]) if since else None
    end = _midnight(_first_and_next(until.strip(), "until")[1]) if until else None
    if start is not None and end is not None and end <= start:
        raise PeriodError(f"until={until!r} comes before from={since!r}")
    return Period(start, end)
