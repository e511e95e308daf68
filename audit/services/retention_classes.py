"""Which retention class (and daily index) an event is stored under, with
organizations' choices cached.

The ingest consumer asks :class:`DailyIndexes` for every event's index: a
hit is one dictionary look-up and a clock reading. A miss asks
:meth:`RetentionClassResolver.class_until`, itself a dictionary look-up
while the organization's setting is fresh; an entry older than the TTL reads
the setting once, under a lock, so at most one read per organization per
TTL reaches Elasticsearch. If the read fails and a previous value is known,
that value is served a while longer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.domain.event import NormalizedEvent
from audit.domain.retention import RetentionPolicy
from audit.errors import AuditError, StoreUnavailable
from audit.services.ports.retention import OrgClassRecord, OrgSettingsStore

log = logging.getLogger(__name__)

_STALE_GRACE_SECONDS = 5.0


class RetentionClassRefused(AuditError):
    """An organization asked for a retention class it may not choose.

    The message lists the classes it may choose (``org_selectable_classes``
    of the retention policy).
    """


@dataclass(frozen=True, slots=True)
class OrgClassChange:
    organization_id: str
    before: str | None
    after: str
    shortening: bool  # data is deleted sooner: the detection raises audit.tampering
    by: str
    reason: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "before": self.before,
            "after": self.after,
            "shortening": self.shortening,
            "by": self.by,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


class RetentionClassResolver:
    """``RetentionClassResolver(store, policy, ttl_seconds=60.0)``; then
    ``resolver.class_for(event_org_id, event_data_category)`` per event."""

    def __init__(
        self,
        store: OrgSettingsStore,
        policy: RetentionPolicy,
        ttl_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._policy = policy
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()
        self.reads = 0  # settings read from the store (for tests and metrics)
        # Bumped by every change made through this resolver: caches built on
        # its answers (DailyIndexes) drop what they hold when it moves.
        self.changes = 0

    @property
    def clock(self) -> Callable[[], float]:
        """The clock of :meth:`class_until`'s deadlines."""
        return self._clock

    def class_for(self, organization_id: str, data_category: str) -> str:
        return self.class_until(organization_id, data_category)[0]

    def class_until(self, organization_id: str, data_category: str) -> tuple[str, float]:
        """The class, and the :attr:`clock` reading until which it holds (the
        organization's setting is read again after it)."""
        entry = self._cache.get(organization_id)
        if entry is None or entry[1] <= self._clock():
            entry = self._load(organization_id)
        return self._policy.class_for(data_category, entry[0]), entry[1]

    def _load(self, organization_id: str) -> tuple[str | None, float]:
        with self._lock:
            now = self._clock()
            entry = self._cache.get(organization_id)
            if entry is not None and entry[1] > now:  # another thread just read it
                return entry
            try:
                self.reads += 1
                setting = self._store.get_class(organization_id)
            except StoreUnavailable:
                if entry is None:
                    raise
                log.warning("org settings unreadable; keeping %s's class a while", organization_id)
                entry = self._cache[organization_id] = (entry[0], now + _STALE_GRACE_SECONDS)
                return entry
            entry = self._cache[organization_id] = (setting, now + self._ttl)
            return entry

    def set_org_class(
        self, organization_id: str, retention_class: str, by: str, reason: str, at: datetime
    ) -> OrgClassChange:
        """Validate and store an organization's choice; other processes see it within the TTL."""
        try:
            self._policy.check_org_setting(retention_class)
        except ValueError as err:
            raise RetentionClassRefused(str(err)) from None
        if not by.strip() or not reason.strip():
            raise RetentionClassRefused("a retention class change needs --by and --reason")
        before = self._store.set_class(
            OrgClassRecord(organization_id, retention_class, by, at, reason)
        )
        with self._lock:
            self._cache.pop(organization_id, None)
            self.changes += 1
        shortening = (
            before is not None
            and before in self._policy.classes
            and self._policy.is_shortening(before, retention_class)
        )
        return OrgClassChange(organization_id, before, retention_class, shortening, by, reason, at)


_MAX_CHOSEN = 65_536
"""Entries of DailyIndexes' cache (organization, data category, day) before
it starts over: bounds a replay over years of many organizations."""


class DailyIndexes:
    """``DailyIndexes(classes, store.index_name)(event)``: the daily index of the
    event's retention class and event-time day (UTC).

    Every answer is kept per (organization, data category, day) until the
    organization's setting is due to be read again, so the per-event path
    is one dictionary hit and a clock reading.
    """

    def __init__(
        self, classes: RetentionClassResolver, index_name: Callable[[str, str], str]
    ) -> None:
        self._classes = classes
        self._index_name = index_name
        self._clock = classes.clock
        self._chosen: dict[tuple[str, str, int], tuple[str, float]] = {}
        self._changes = classes.changes
        self._days: dict[int, str] = {}  # event-time day (ordinal) -> "YYYY.MM.DD"

    def __call__(self, event: NormalizedEvent) -> str:
        key = (event.organization_id, event.data_category, event.timestamp.toordinal())
        hit = self._chosen.get(key)
        if hit is not None and hit[1] > self._clock() and self._changes == self._classes.changes:
            return hit[0]
        return self._choose(key, event)

    def _choose(self, key: tuple[str, str, int], event: NormalizedEvent) -> str:
        if self._changes != self._classes.changes or len(self._chosen) >= _MAX_CHOSEN:
            self._chosen.clear()
            self._changes = self._classes.changes
        retention_class, until = self._classes.class_until(key[0], key[1])
        day = self._days.get(key[2])
        if day is None:
            if len(self._days) > 4096:  # a replay over years: keep the cache small
                self._days.clear()
            day = self._days[key[2]] = event.timestamp.strftime("%Y.%m.%d")
        index = self._index_name(retention_class, day)
        self._chosen[key] = (index, until)
        return index
