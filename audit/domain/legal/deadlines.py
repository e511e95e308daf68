"""Deadline arithmetic: UTC instants, calendar months and business days.

Every instant is an aware datetime in UTC. Hours and days are elapsed time
(72 h is 72 real hours whatever the daylight-saving switches in between);
business days are counted on the local calendar of a configurable time zone
(America/New_York for SEC filings), weekends and configured holidays excluded.
"""

from __future__ import annotations

import calendar as _cal
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

SATURDAY = 5


def to_utc(value: datetime) -> datetime:
    """``value`` as UTC; a naive datetime is refused (its meaning would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no time zone; pass aware times")
    return value.astimezone(UTC)


def add_months(start: datetime, months: int) -> datetime:
    """Same day and time ``months`` later in UTC; the day is clamped to the month's end."""
    start = to_utc(start)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, _cal.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


class BusinessCalendar(BaseModel):
    """Business days of one jurisdiction: a time zone and its holidays."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "America/New_York"
    holidays: frozenset[date] = Field(default_factory=frozenset)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < SATURDAY and day not in self.holidays

    def add_business_days(self, start: datetime, count: int) -> datetime:
        """End (23:59:59 local) of the ``count``-th business day after ``start``'s local date.

        The day of ``start`` itself is not counted, whether or not it is a
        business day. The result is returned in UTC.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        day = to_utc(start).astimezone(self.zone).date()
        remaining = count
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_business_day(day):
                remaining -= 1
        end_of_day = datetime.combine(day, time(23, 59, 59), tzinfo=self.zone)
        return end_of_day.astimezone(UTC)
