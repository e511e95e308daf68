"""Opaque page cursors: a handle on the point in time, the sort position and the query.

Signed (HMAC-SHA256) so that a cursor cannot be forged or edited; bound to
the query's digest so that it cannot be replayed with other filters.

The point-in-time id itself is not in the cursor: it names every index
behind the alias, about 250 characters each, so with hundreds of daily
indices it is far longer than any URL (4,632 characters with 18 indices
already broke the 4,096-character cursor limit). A cursor carries a random
handle instead, looked up in a :class:`PitHandleStore`: the API keeps them
in Elasticsearch (``audit.adapters.elasticsearch.pit_handles``), so any
replica serves the next page; :class:`PitHandles` keeps them in the process
(tests). Handles expire with the point in time: an expired or unknown one
is answered "expired, search again".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from audit.api.problems import bad_request

# Elasticsearch keeps the point in time alive 2 minutes after each page
# (event_search.search_page): a handle is kept a little longer.
HANDLE_TTL_SECONDS = 180.0
MAX_HANDLES = 10_000


class PitHandleStore(Protocol):
    def put(self, pit_id: str) -> str:
        """A new random handle on ``pit_id``, alive as long as the point in time."""
        ...

    def get(self, handle: str) -> str | None:
        """The point-in-time id of a live handle; None when unknown or expired."""
        ...


class PitHandles:
    """Point-in-time ids by random handle, in this process: bounded, each expiring
    ``ttl`` after its page."""

    def __init__(
        self,
        ttl: float = HANDLE_TTL_SECONDS,
        capacity: int = MAX_HANDLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl, self._capacity, self._clock = ttl, capacity, clock
        self._ids: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, pit_id: str) -> str:
        handle = secrets.token_urlsafe(18)
        now = self._clock()
        with self._lock:
            self._ids[handle] = (pit_id, now + self._ttl)
            while len(self._ids) > self._capacity:
                self._ids.popitem(last=False)  # the oldest first
            while self._ids:
                oldest = next(iter(self._ids.values()))
                if oldest[1] > now:
                    break
                self._ids.popitem(last=False)
        return handle

    def get(self, handle: str) -> str | None:
        with self._lock:
            entry = self._ids.get(handle)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def __len__(self) -> int:
        return len(self._ids)


class CursorCodec:
    def __init__(self, key: bytes, handles: PitHandleStore | None = None) -> None:
        self._key = key
        self._handles: PitHandleStore = handles or PitHandles()

    def encode(
        self, pit_id: str, after: list[Any], query_digest: str, extra: dict[str, Any]
    ) -> str:
        handle = self._handles.put(pit_id)
        payload = orjson.dumps({"h": handle, "a": after, "q": query_digest, "x": extra})
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")

    def decode(self, cursor: str, query_digest: str) -> tuple[str, list[Any], dict[str, Any]]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except ValueError:
            raise bad_request("the cursor is not valid; search again without it") from None
        mac, payload = raw[:16], raw[16:]
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        if len(raw) <= 16 or not hmac.compare_digest(mac, expected):
            raise bad_request("the cursor is not valid; search again without it")
        data = orjson.loads(payload)
        if data.get("q") != query_digest:
            raise bad_request("the cursor belongs to other filters; keep the same filters")
        handle, after, extra = data.get("h"), data.get("a"), data.get("x")
        if not (isinstance(handle, str) and isinstance(after, list) and isinstance(extra, dict)):
            raise bad_request("the cursor is not valid; search again without it")
        pit = self._handles.get(handle)
        if pit is None:
            raise bad_request("the cursor has expired; search again without it")
        return pit, after, extra


def query_digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(params, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
