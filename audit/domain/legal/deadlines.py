"""Deadline arithmetic: UTC instants, calendar months and business days.

Every instant is an aware datetime in UTC. Hours and days are elapsed time
(72 h is 72 real hours whatever the daylight-saving switches in between);
business days are counted on the local calendar of a configurable time zone
(America/New_York for SEC filings), weekends and the public holidays of a
country excluded. Holidays come from the maintained ``holidays`` package
(pure computation, every year, observed days included), never from
hand-written lists; ``holidays`` on the calendar only adds closures the law
knows but no calendar can (a national day of mourning closing EDGAR).
"""

from __future__ import annotations

import calendar as _cal
import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as _holidays
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


@functools.cache
def _public_holidays(country: str, subdivision: str | None) -> _holidays.HolidayBase:
    return _holidays.country_holidays(country, subdiv=subdivision)


class BusinessCalendar(BaseModel):
    """Business days of one jurisdiction: a time zone, a country's public holidays
    (``holidays`` package; US: the federal holidays, observed days included) and
    extra closures.

    The default is the SEC's: "business day" is any day other than Saturday,
    Sunday or a federal holiday, in Eastern time (17 CFR 232.13, Regulation S-T).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "America/New_York"
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    subdivision: str | None = None
    holidays: frozenset[date] = Field(
        default_factory=frozenset,
        description="extra closures only (e.g. a national day of mourning); the public "
        "holidays come from the holidays package",
    )

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        if value not in _holidays.list_supported_countries():
            raise ValueError(f"no holiday calendar for country {value!r}")
        return value

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
        if day.weekday() >= SATURDAY or day in self.holidays:
            return False
        return day not in _public_holidays(self.country, self.subdivision)

    def add_business_days(
        self, start: datetime, count: int, cutoff: time | None = None
    ) -> datetime:
        """End of the ``count``-th business day after ``start``'s local date: 23:59:59
        local, or ``cutoff`` local (17:30 for EDGAR, 17 CFR 232.13(a)(2): a filing
        submitted after 17:30 Eastern is filed the next business day).

        The day of ``start`` itself is not counted, whether or not it is a
        business day. The result is returned in UTC; the local time is taken on
        that day's offset (EST or EDT), so a DST change in between moves nothing.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        day = to_utc(start).astimezone(self.zone).date()
        remaining = count
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_business_day(day):
                remaining -= 1
        end_of_day = datetime.combine(day, cutoff or time(23, 59, 59), tzinfo=self.zone)
        return end_of_day.astimezone(UTC)
