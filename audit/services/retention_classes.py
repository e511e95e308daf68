"""Which retention class an event is stored under, with organizations' choices cached.

The ingest consumer asks :meth:`RetentionClassResolver.class_for` for every
event: a cache hit is two dictionary look-ups; a miss (or an entry older
than the TTL) reads the organization's setting once, under a lock, so at
most one read per organization per TTL reaches Elasticsearch. If the read
fails and a previous value is known, that value is served a while longer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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

    def class_for(self, organization_id: str, data_category: str) -> str:
        entry = self._cache.get(organization_id)
        if entry is None or entry[1] <= self._clock():
            setting = self._load(organization_id)
        else:
            setting = entry[0]
        return self._policy.class_for(data_category, setting)

    def _load(self, organization_id: str) -> str | None:
        with self._lock:
            now = self._clock()
            entry = self._cache.get(organization_id)
            if entry is not None and entry[1] > now:  # another thread just read it
                return entry[0]
            try:
                self.reads += 1
                setting = self._store.get_class(organization_id)
            except StoreUnavailable:
                if entry is None:
                    raise
                log.warning("org settings unreadable; keeping %s's class a while", organization_id)
                self._cache[organization_id] = (entry[0], now + _STALE_GRACE_SECONDS)
                return entry[0]
            self._cache[organization_id] = (setting, now + self._ttl)
            return setting

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
        shortening = (
            before is not None
            and before in self._policy.classes
            and self._policy.is_shortening(before, retention_class)
        )
        return OrgClassChange(organization_id, before, retention_class, shortening, by, reason, at)
