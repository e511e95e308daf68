"""Point-in-time ids of page cursors, kept in Elasticsearch by random handle.

A cursor carries a handle, not the point-in-time id (which names every index
behind the alias and outgrows any URL, see :mod:`audit.api.cursor`). Kept in
the node rather than in the API process, a handle is found by whichever API
replica the next page reaches, and survives a restart: paging behind a load
balancer works. Each handle is one document read by id (real time, no
refresh), expiring with its point in time; every ``sweep_every`` handles
written, up to ``SWEEP_BATCH`` expired ones are deleted (a search and a bulk
delete: delete-by-query is a module a minimal node may not have).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from audit.adapters.elasticsearch.versioned import ensure_index, unavailable

MAPPING = "audit-api-cursors"
#: Elasticsearch keeps the point in time 2 minutes after each page: a little longer.
HANDLE_TTL_SECONDS = 180.0
SWEEP_EVERY = 500  # handles written between two sweeps of the expired ones
SWEEP_BATCH = 1000  # at most this many expired handles deleted per sweep


class ElasticsearchPitHandles:
    def __init__(
        self,
        client: Callable[[], Elasticsearch],
        index: str,
        *,
        ttl: float = HANDLE_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
        sweep_every: int = SWEEP_EVERY,
    ) -> None:
        self._client, self._index = client, index
        self._ttl, self._clock, self._sweep_every = ttl, clock, sweep_every
        self._lock = threading.Lock()
        self._ready = False
        self._written = 0

    def put(self, pit_id: str) -> str:
        handle = secrets.token_urlsafe(18)
        now = self._clock()
        client = self._client()
        try:
            if not self._ready:
                ensure_index(client, self._index, MAPPING)
                self._ready = True
            client.index(
                index=self._index,
                id=handle,
                document={"pit_id": pit_id, "expires_at": int((now + self._ttl) * 1000)},
            )
        except (ApiError, TransportError) as err:
            raise unavailable(err, "cannot keep the page cursor") from err
        with self._lock:
            self._written += 1
            sweep = self._written % self._sweep_every == 0
        if sweep:
            self._sweep(client, now)
        return handle

    def get(self, handle: str) -> str | None:
        """The point-in-time id of a live handle; None when unknown or expired."""
        try:
            found = self._client().get(index=self._index, id=handle)
        except NotFoundError:
            return None  # unknown, swept, or the index is not there yet
        except (ApiError, TransportError) as err:
            raise unavailable(err, "cannot read the page cursor") from err
        source = found["_source"]
        expires_at, pit_id = source.get("expires_at"), source.get("pit_id")
        if not isinstance(expires_at, int) or expires_at <= self._clock() * 1000:
            return None
        return pit_id if isinstance(pit_id, str) else None

    def _sweep(self, client: Elasticsearch, now: float) -> None:
        # A failed sweep is left to the next: an expired handle is refused on read anyway.
        with contextlib.suppress(ApiError, TransportError):
            expired = client.search(
                index=self._index,
                query={"range": {"expires_at": {"lt": int(now * 1000)}}},
                size=SWEEP_BATCH,
                source=False,
                filter_path="hits.hits._id",
            )
            ids = [hit["_id"] for hit in expired.get("hits", {}).get("hits", [])]
            if ids:
                client.bulk(
                    operations=[{"delete": {"_index": self._index, "_id": i}} for i in ids],
                    filter_path="errors",
                )
