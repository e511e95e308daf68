"""Tomorrow's daily event indices, made before the first event needs them.

An event index is created by the first bulk request that writes into it:
the request waits while the node creates the index, applies the template
and starts its shard (120-350 ms per index on an idle test node against
7-24 ms for a write into an existing one; more on a busy node, and one per
retention class at midnight UTC). Every routed event of that batch, and so
every alert it carries, waits behind it (issue 12: alerts on arrival). This
job creates tomorrow's index of every retention class that has an index
today, so that the first batch after midnight writes into indices that
exist. A class first written late in the day is covered on the next run;
a class with no event today gets no empty index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

log = logging.getLogger(__name__)

NEXT_DAY_INDEXES_JOB = "next_day_indexes"


class DailyEventIndexes(Protocol):
    """The event store's daily indices, by retention class and UTC day."""

    def retention_classes_of_day(self, day: date) -> set[str]:
        """The classes that have an event index for ``day``."""
        ...

    def create_event_index(self, retention_class: str, day: date) -> bool:
        """Create the (empty) index of ``retention_class`` for ``day``, with
        the events template; False if it existed already."""
        ...


@dataclass(frozen=True)
class NextDayReport:
    day: date
    created: tuple[str, ...]

    def __str__(self) -> str:
        made = ", ".join(self.created) or "none"
        return f"indices for {self.day.isoformat()} created ahead: {made}"


class NextDayIndexes:
    def __init__(self, indexes: DailyEventIndexes) -> None:
        self._indexes = indexes

    def run(self, now: datetime) -> NextDayReport:
        """Create tomorrow's (UTC) index of each class that has one today."""
        today = now.date()
        tomorrow = today + timedelta(days=1)
        wanted = self._indexes.retention_classes_of_day(today)
        missing = sorted(wanted - self._indexes.retention_classes_of_day(tomorrow))
        created = tuple(c for c in missing if self._indexes.create_event_index(c, tomorrow))
        report = NextDayReport(tomorrow, created)
        if created:
            log.info("%s", report)
        return report
