"""Subjects under an executed restriction or objection, for the ingest side.

Detection stops seeing a restricted subject's new events (the ingest
consumer routes nothing of them to the detectors), and their stored copies
are flagged as they are sealed, so searches hide them like the events
flagged when the request was executed. The list is read from the request
store and kept for ``ttl`` seconds (requests are few; a lifted restriction
applies within that time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from audit.domain.detection.routing import RoutedEvent, Router, route_each
from audit.domain.event import NormalizedEvent
from audit.domain.privacy.requests import DataSubjectRequest, Right, Status
from audit.services.ports.privacy import RequestStore

log = logging.getLogger(__name__)

RESTRICTING = (Right.RESTRICTION, Right.OBJECTION)
TTL_SECONDS = 60.0
RETRY_SECONDS = 5.0
MAX_REQUESTS = 10_000


class RestrictedSubjects:
    def __init__(
        self,
        requests: RequestStore,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = requests
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        self._active: list[DataSubjectRequest] = []

    def _current(self) -> list[DataSubjectRequest]:
        with self._lock:
            now = self._clock()
            if self._loaded_at is None or now - self._loaded_at >= self._ttl:
                try:
                    stored = self._store.list(MAX_REQUESTS)
                except Exception as err:
                    # Never fail the ingest path: keep the last list and
                    # try again soon (while the store is down nothing is
                    # stored either).
                    log.warning("restriction list not refreshed: %s", err)
                    self._loaded_at = now - self._ttl + RETRY_SECONDS
                    return self._active
                self._active = [
                    request
                    for request in (DataSubjectRequest.from_stored(d) for d in stored)
                    if request.right in RESTRICTING and request.status is Status.EXECUTED
                ]
                self._loaded_at = now
            return self._active

    def requests_for(self, document: Mapping[str, Any]) -> list[str]:
        """The restriction requests that concern ``document`` (empty: none)."""
        active = self._current()
        if not active:
            return []
        return [r.id for r in active if r.subject.concerns(document, r.organization_id)]

    def matcher(self) -> Callable[[Mapping[str, Any]], list[str]] | None:
        """``requests_for`` over the requests in force now, or None when no
        subject is restricted: a batch then costs one lookup, not one per
        document (the list is refreshed per ``ttl``, not per document)."""
        active = tuple(self._current())
        if not active:
            return None

        def requests_for(document: Mapping[str, Any]) -> list[str]:
            return [r.id for r in active if r.subject.concerns(document, r.organization_id)]

        return requests_for


class RestrictingRouter(Router):
    """A router that routes nothing of a restricted subject's events."""

    def __init__(self, rules: Iterable[Any], subjects: RestrictedSubjects) -> None:
        super().__init__(rules)
        self._subjects = subjects

    def route(
        self, event: NormalizedEvent, *, received_at: datetime | None = None
    ) -> list[RoutedEvent]:
        if self._subjects.requests_for(event.document):
            return []
        return super().route(event, received_at=received_at)

    def route_events(self, events: Iterable[NormalizedEvent]) -> list[RoutedEvent]:
        # The requests in force are looked up once per batch, not per event
        # (the lookup takes a lock; most of the time nobody is restricted).
        concerned = self._subjects.matcher()
        if concerned is not None:
            events = [event for event in events if not concerned(event.document)]
        return route_each(super().route, events)
