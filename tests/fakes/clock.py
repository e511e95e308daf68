"""A clock the test moves by hand, and a sleep that only advances it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """``now()`` answers the set time (UTC); ``sleep`` and ``advance`` move it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("the fake clock needs an aware datetime")
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    __call__ = now

    def advance(self, delta: timedelta | float) -> datetime:
        if isinstance(delta, int | float):
            delta = timedelta(seconds=delta)
        if delta < timedelta(0):
            raise ValueError("time does not go backwards")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError("time does not go backwards")
        self._now = when

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
