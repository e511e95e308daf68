"""Per-key state: the open detection (suppression record) and its JSON form.

Everything the engine knows about one group key of one rule lives in one
:class:`KeyState`, so the runtime can write each changed key to a compacted
changelog topic and restore it on partition assignment. The open detection
is part of it: a restore never raises the same detection twice.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.domain.detection.record import MAX_EVENT_IDS, Detection
from audit.domain.detection.routing import (
    CATEGORY_FIELD,
    RESOURCE_ORG_FIELD,
    RoutedEvent,
    from_us,
)
from audit.domain.detection.rules import RuleBase
from audit.domain.fields import ENTITY_FIELDS

#: At most this many values per entity kind are kept on a detection.
MAX_ENTITY_VALUES = 100


def detection_id(rule_id: str, key: str, start_us: int) -> str:
    """Deterministic id: the same rule, group key and window start give the same id."""
    raw = f"{rule_id}\x1f{key}\x1f{start_us}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(slots=True)
class OpenDetection:
    """The detection currently open for a key, updated while suppression lasts."""

    id: str
    start_us: int
    first_us: int
    last_us: int
    count: int = 0
    #: The earliest (event time, id) first, at most MAX_EVENT_IDS: the same
    #: list whatever order the events arrived in.
    event_ids: list[str] = field(default_factory=list)
    event_times: list[int] = field(default_factory=list)
    orgs: set[str] = field(default_factory=set)
    resource_orgs: set[str] = field(default_factory=set)
    categories: set[str] = field(default_factory=set)
    entities: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def start(cls, rule_id: str, key: str, events: Sequence[RoutedEvent]) -> OpenDetection:
        first = min(e.time_us for e in events)
        opened = cls(detection_id(rule_id, key, first), first, first, first)
        for event in events:
            opened.add(event)
        return opened

    def add(self, event: RoutedEvent) -> None:
        self.count += 1
        self.first_us = min(self.first_us, event.time_us)
        self.last_us = max(self.last_us, event.time_us)
        ids, times = self.event_ids, self.event_times
        time_us = event.time_us
        if not times or (times[-1], ids[-1]) <= (time_us, event.event_id):
            if len(ids) < MAX_EVENT_IDS:
                ids.append(event.event_id)
                times.append(time_us)
        else:
            index = bisect.bisect_right(
                list(zip(times, ids, strict=True)), (time_us, event.event_id)
            )
            ids.insert(index, event.event_id)
            times.insert(index, time_us)
            if len(ids) > MAX_EVENT_IDS:
                ids.pop()
                times.pop()
        self.orgs.add(event.organization_id)
        fields = event.fields
        owner = fields.get(RESOURCE_ORG_FIELD)
        if type(owner) is str:
            self.resource_orgs.add(owner)
        category = fields.get(CATEGORY_FIELD)
        if type(category) is str:
            self.categories.add(category)
        for kind in ENTITY_FIELDS:
            value = fields.get(kind)
            if type(value) is str:
                values = self.entities.setdefault(kind, set())
                if len(values) < MAX_ENTITY_VALUES:
                    values.add(value)

    def to_detection(self, rule: RuleBase, group_key: Iterable[tuple[str, str]]) -> Detection:
        return Detection(
            id=self.id,
            rule_id=rule.id,
            rule_name=rule.name,
            severity=rule.severity,
            group_key=dict(group_key),
            organization_ids=sorted(self.orgs),
            affected_organization_ids=sorted(self.resource_orgs or self.orgs),
            first_seen=from_us(self.first_us),
            last_seen=from_us(self.last_us),
            event_count=self.count,
            event_ids=list(self.event_ids),
            data_categories=sorted(self.categories or set(rule.data_categories)),
            entities={k: sorted(v) for k, v in sorted(self.entities.items())},
            mitre_technique=rule.mitre.technique,
            window_start=from_us(self.start_us),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start": self.start_us,
            "first": self.first_us,
            "last": self.last_us,
            "count": self.count,
            # copies: a snapshot of the state is dumped while the key goes on
            "event_ids": list(self.event_ids),
            "event_times": list(self.event_times),
            "orgs": sorted(self.orgs),
            "resource_orgs": sorted(self.resource_orgs),
            "categories": sorted(self.categories),
            "entities": {k: sorted(v) for k, v in self.entities.items()},
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> OpenDetection:
        return cls(
            id=data["id"],
            start_us=data["start"],
            first_us=data["first"],
            last_us=data["last"],
            count=data["count"],
            event_ids=list(data["event_ids"]),
            event_times=list(data.get("event_times", ())),
            orgs=set(data["orgs"]),
            resource_orgs=set(data["resource_orgs"]),
            categories=set(data["categories"]),
            entities={k: set(v) for k, v in data["entities"].items()},
        )


#: A routed event inside a key's state is its fields from ``time_us`` on:
#: time_us, event_id, organization_id, step, fields, clock_us (the layout
#: load_event reads; tests/unit/detection/test_state_layout.py holds them equal).
DUMPED_FROM = RoutedEvent._fields.index("time_us")


def dump_event(event: RoutedEvent) -> tuple[Any, ...]:
    """A routed event inside a key's state: the key's own parts left out.

    A slice of the tuple (orjson writes it as the array the changelog has
    always held): the detector dumps every changed key's window, so this
    runs for every event a changed window holds.
    """
    return event[DUMPED_FROM:]


def load_event(
    rule_id: str, key: str, group_key: tuple[tuple[str, str], ...], data: Any
) -> RoutedEvent:
    time_us, event_id, organization_id, step, fields, clock_us = data
    return RoutedEvent(
        rule_id, key, group_key, time_us, event_id, organization_id, step, fields, clock_us
    )


@dataclass(slots=True)
class KeyState:
    """Everything about one (rule, group key): pending events, position, open detection."""

    rule_id: str
    key: str
    group_key: tuple[tuple[str, str], ...]
    data: Any
    pending: list[RoutedEvent] = field(default_factory=list)
    #: (time, event id, step) of the last event applied: nothing at or before
    #: it is applied again.
    floor: tuple[int, str, int] | None = None
    open: OpenDetection | None = None
    #: The projected fields and organization id of the last event applied:
    #: the next equal ones are shared with them (memory; not part of the
    #: state written out).
    fields: Mapping[str, Any] | None = None
    organization_id: str | None = None
    #: Whether every value of ``fields`` is a string (then an equal
    #: projection has the same types: no check needed); None: not known yet.
    fields_all_str: bool | None = None
