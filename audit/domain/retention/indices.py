"""Names of the daily event indices and the legal-hold indices."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

EVENTS_PREFIX = "audit-events-"
HOLDS_PREFIX = "audit-holds-"
READ_ALIAS = "audit-events"

_EVENTS = re.compile(r"^audit-events-([a-z][a-z0-9_]{0,31})-(\d{4})\.(\d{2})\.(\d{2})$")
_HOLD_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


@dataclass(frozen=True, slots=True)
class EventIndexName:
    retention_class: str
    day: date


def index_name(retention_class: str, day: date | datetime) -> str:
    """``audit-events-<class>-YYYY.MM.DD`` for the UTC day of the event time.

    A ``datetime`` must be aware; it is converted to its UTC day.
    """
    if isinstance(day, datetime):
        if day.utcoffset() is None:
            raise ValueError("event time must carry a time zone")
        day = (day - day.utcoffset()).date()  # type: ignore[operator]
    name = f"{EVENTS_PREFIX}{retention_class}-{day:%Y.%m.%d}"
    if not _EVENTS.match(name):
        raise ValueError(f"invalid retention class {retention_class!r}")
    return name


def parse_index_name(name: str) -> EventIndexName | None:
    """The class and day of an event index name, or ``None`` if it is not one."""
    match = _EVENTS.match(name)
    if match is None:
        return None
    try:
        day = date(int(match[2]), int(match[3]), int(match[4]))
    except ValueError:
        return None
    return EventIndexName(match[1], day)


def hold_index_name(hold_id: str) -> str:
    """``audit-holds-<hold id>``: where documents preserved for a hold are copied."""
    if not _HOLD_ID.match(hold_id):
        raise ValueError(f"invalid hold id {hold_id!r}: lower-case letters, digits, '-', '_'")
    return HOLDS_PREFIX + hold_id


def parse_hold_index_name(name: str) -> str | None:
    """The hold id of a hold index name, or ``None``."""
    if not name.startswith(HOLDS_PREFIX):
        return None
    hold_id = name[len(HOLDS_PREFIX) :]
    return hold_id if _HOLD_ID.match(hold_id) else None
