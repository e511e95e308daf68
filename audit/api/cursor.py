"""Opaque page cursors: the point in time, the sort position and the query they belong to.

Signed (HMAC-SHA256) so that a cursor cannot be forged or edited; bound to
the query's digest so that it cannot be replayed with other filters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from audit.api.problems import bad_request


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def encode(
        self, pit_id: str, after: list[Any], query_digest: str, extra: dict[str, Any]
    ) -> str:
        payload = orjson.dumps({"p": pit_id, "a": after, "q": query_digest, "x": extra})
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
        pit, after, extra = data.get("p"), data.get("a"), data.get("x")
        if not (isinstance(pit, str) and isinstance(after, list) and isinstance(extra, dict)):
            raise bad_request("the cursor is not valid; search again without it")
        return pit, after, extra


def query_digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(params, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
