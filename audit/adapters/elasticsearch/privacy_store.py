"""Subject keys, the erasure ledger and data-subject requests in
Elasticsearch (one index each, named in settings). Implements the ports of
:mod:`audit.services.ports.privacy`. Writes refresh: erasure and verify read
what was just written.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from audit.adapters.elasticsearch.versioned import ensure_index, unavailable
from audit.errors import NotFound

PAGE = 1000


class ElasticsearchSubjectKeyStore:
    def __init__(self, client: Elasticsearch, index: str) -> None:
        self._client = client
        self.index = index

    def ensure_index(self) -> None:
        ensure_index(self._client, self.index, "audit-subject-keys")

    def get(self, key_ids: Sequence[str]) -> dict[str, bytes]:
        if not key_ids:
            return {}
        try:
            response = self._client.mget(index=self.index, ids=list(key_ids), realtime=True)
        except NotFoundError:
            return {}
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot read subject keys from {self.index}") from err
        return {
            doc["_id"]: base64.b64decode(doc["_source"]["wrapped"])
            for doc in response["docs"]
            if doc.get("found")
        }

    def create(self, wrapped: Mapping[str, bytes]) -> dict[str, bytes]:
        operations: list[dict[str, Any]] = []
        for key_id, value in wrapped.items():
            operations.append({"create": {"_index": self.index, "_id": key_id}})
            operations.append({"wrapped": base64.b64encode(value).decode()})
        if not operations:
            return {}
        try:
            response = self._client.bulk(operations=operations, refresh="wait_for")
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot store subject keys in {self.index}") from err
        lost = []
        for item in response["items"]:
            result = item["create"]
            if result.get("status") == 409:
                lost.append(result["_id"])
            elif "error" in result:
                raise unavailable(
                    ApiError(str(result["error"]), meta=response.meta, body=result),
                    "cannot store a subject key",
                )
        stored = {k: v for k, v in wrapped.items() if k not in lost}
        stored.update(self.get(lost))
        return stored

    def destroy(self, key_ids: Sequence[str]) -> None:
        if not key_ids:
            return
        operations = [{"delete": {"_index": self.index, "_id": k}} for k in key_ids]
        try:
            self._client.bulk(operations=operations, refresh="wait_for")
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot destroy subject keys in {self.index}") from err


class ElasticsearchErasureLedger:
    def __init__(self, client: Elasticsearch, index: str) -> None:
        self._client = client
        self.index = index

    def ensure_index(self) -> None:
        ensure_index(self._client, self.index, "audit-erasures")

    def record_events(self, request_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        operations: list[dict[str, Any]] = []
        for entry in entries:
            operations.append(
                {"index": {"_index": self.index, "_id": f"event:{entry['event_id']}"}}
            )
            operations.append({"kind": "event", "request_id": request_id, **entry})
        if not operations:
            return
        try:
            response = self._client.bulk(operations=operations, refresh="wait_for")
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot write the erasure ledger {self.index}") from err
        if response.get("errors"):
            raise unavailable(
                ApiError("bulk errors", meta=response.meta, body=response.body),
                "cannot write the erasure ledger",
            )

    def erased_under(self, event_ids: Sequence[str]) -> dict[str, str]:
        if not event_ids:
            return {}
        try:
            response = self._client.mget(index=self.index, ids=[f"event:{e}" for e in event_ids])
        except NotFoundError:
            return {}
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot read the erasure ledger {self.index}") from err
        return {
            doc["_source"]["event_id"]: doc["_source"]["request_id"]
            for doc in response["docs"]
            if doc.get("found")
        }

    def events_of(self, request_id: str) -> Iterator[str]:
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": PAGE,
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"kind": "event"}},
                            {"term": {"request_id": request_id}},
                        ]
                    }
                },
                "sort": [{"event_id": "asc"}],
                "_source": ["event_id"],
            }
            if after is not None:
                body["search_after"] = after
            try:
                hits = self._client.search(index=self.index, **body)["hits"]["hits"]
            except NotFoundError:
                return
            except (ApiError, TransportError) as err:
                raise unavailable(err, f"cannot read the erasure ledger {self.index}") from err
            for hit in hits:
                yield hit["_source"]["event_id"]
            if len(hits) < PAGE:
                return
            after = hits[-1]["sort"]

    def put_record(self, request_id: str, record: Mapping[str, Any]) -> None:
        try:
            self._client.index(
                index=self.index,
                id=f"record:{request_id}",
                document={"kind": "record", "request_id": request_id, "record": dict(record)},
                refresh="wait_for",
            )
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot store the erasure record of {request_id}") from err

    def record(self, request_id: str) -> dict[str, Any] | None:
        try:
            found = self._client.get(index=self.index, id=f"record:{request_id}")
        except NotFoundError:
            return None
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot read the erasure record of {request_id}") from err
        record: dict[str, Any] = found["_source"]["record"]
        return record


class ElasticsearchRequestStore:
    def __init__(self, client: Elasticsearch, index: str) -> None:
        self._client = client
        self.index = index

    def ensure_index(self) -> None:
        ensure_index(self._client, self.index, "audit-dsr")

    def create(self, request_id: str, document: Mapping[str, Any]) -> bool:
        try:
            self._client.create(
                index=self.index, id=request_id, document=dict(document), refresh="wait_for"
            )
        except ApiError as err:
            if err.status_code == 409:
                return False
            raise unavailable(err, f"cannot store request {request_id}") from err
        except TransportError as err:
            raise unavailable(err, f"cannot store request {request_id}") from err
        return True

    def get(self, request_id: str) -> dict[str, Any]:
        try:
            found = self._client.get(index=self.index, id=request_id)
        except NotFoundError:
            raise NotFound(f"no data-subject request {request_id!r}") from None
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot read request {request_id}") from err
        document: dict[str, Any] = found["_source"]
        return document

    def replace(self, request_id: str, document: Mapping[str, Any]) -> None:
        try:
            self._client.index(
                index=self.index, id=request_id, document=dict(document), refresh="wait_for"
            )
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot store request {request_id}") from err

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        try:
            response = self._client.search(
                index=self.index, size=limit, sort=[{"received_at": "desc"}]
            )
        except NotFoundError:
            return []
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot list requests in {self.index}") from err
        return [hit["_source"] for hit in response["hits"]["hits"]]
