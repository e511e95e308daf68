"""Failures on demand, raised as the real adapters raise them.

``StoreUnavailable`` is what every Elasticsearch adapter raises for a
network error, 429 or 5xx (``audit.adapters.elasticsearch.client.is_unavailable``);
a 4xx refusal other than 404/409 escapes the versioned-index adapter as the
client's own ``elasticsearch.BadRequestError``, so the fakes raise that type too.
"""

from __future__ import annotations

from collections import deque

from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError, BadRequestError

from audit.errors import StoreUnavailable


def bad_request(error_type: str, reason: str) -> BadRequestError:
    """The exception the Elasticsearch client raises for a 400 answer."""
    meta = ApiResponseMeta(
        status=400,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.0,
        node=NodeConfig("http", "127.0.0.1", 9200),
    )
    return BadRequestError(
        message=error_type, meta=meta, body={"error": {"type": error_type, "reason": reason}}
    )


class Outages:
    """Calls that fail: ``down(n)`` makes the next ``n`` calls raise StoreUnavailable."""

    def __init__(self) -> None:
        self._queued: deque[Exception | None] = deque()
        self.down_forever = False
        self.failed_calls = 0

    def down(self, calls: int = 1, error: Exception | None = None, *, after: int = 0) -> None:
        """Fail ``calls`` calls, starting after ``after`` more calls succeed."""
        self._queued.extend([None] * after)
        for _ in range(calls):
            self._queued.append(error or StoreUnavailable("fake: 503 service unavailable"))

    def up(self) -> None:
        self._queued.clear()
        self.down_forever = False

    def check(self, what: str) -> None:
        """Raise as the adapter would when the node is down; ``what`` names the request."""
        if self.down_forever:
            self.failed_calls += 1
            raise StoreUnavailable(f"{what}: fake: connection refused")
        if self._queued:
            error = self._queued.popleft()
            if error is None:
                return
            self.failed_calls += 1
            if isinstance(error, StoreUnavailable):
                raise StoreUnavailable(f"{what}: {error}")
            raise error


def api_error(status: int, error_type: str, reason: str) -> ApiError:
    """The client's exception for a non-2xx answer (``NotFoundError`` for 404, ...)."""
    from elasticsearch.exceptions import HTTP_EXCEPTIONS

    meta = ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.0,
        node=NodeConfig("http", "127.0.0.1", 9200),
    )
    cls = HTTP_EXCEPTIONS.get(status, ApiError)
    return cls(
        message=error_type, meta=meta, body={"error": {"type": error_type, "reason": reason}}
    )
