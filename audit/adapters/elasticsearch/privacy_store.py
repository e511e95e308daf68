"""Subject keys, the erasure ledger and data-subject requests in
Elasticsearch (one index each, named in settings). Implements the ports of
:mod:`audit.services.ports.privacy`. Writes refresh: erasure and verify read
what was just written.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from audit.adapters.elasticsearch.versioned import ensure_index, unavailable
from audit.errors import ConflictError, NotFound, StoreUnavailable
from audit.services.ports.privacy import StoredHit

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

    def erased_under(self, event_ids: Sequence[str]) -> dict[str, tuple[str, list[str]]]:
        if not event_ids:
            return {}
        try:
            response = self._client.mget(index=self.index, ids=[f"event:{e}" for e in event_ids])
        except NotFoundError:
            return {}
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot read the erasure ledger {self.index}") from err
        return {
            doc["_source"]["event_id"]: (
                doc["_source"]["request_id"],
                list(doc["_source"].get("fields", [])),
            )
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


KEEP_ALIVE = "2m"
WALK_PAGE = 1000
_BLOCKS = ("write", "read_only")


class ElasticsearchDocumentIndex:
    """Implements :class:`audit.services.ports.privacy.DocumentIndex`."""

    def __init__(self, client: Elasticsearch) -> None:
        self._client = client

    def walk(self, index: str, query: Mapping[str, Any]) -> Iterator[list[StoredHit]]:
        try:
            pit = self._client.open_point_in_time(
                index=index, keep_alive=KEEP_ALIVE, ignore_unavailable=True
            )["id"]
        except NotFoundError:
            return
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot open a point in time on {index}") from err
        after: list[Any] | None = None
        try:
            while True:
                extra: dict[str, Any] = {"search_after": after} if after is not None else {}
                try:
                    response = self._client.search(
                        pit={"id": pit, "keep_alive": KEEP_ALIVE},
                        query=dict(query),
                        sort=[{"_shard_doc": "asc"}],
                        size=WALK_PAGE,
                        seq_no_primary_term=True,
                        track_total_hits=False,
                        **extra,
                    )
                except (ApiError, TransportError) as err:
                    raise unavailable(err, f"cannot search {index}") from err
                pit = response.get("pit_id", pit)
                hits = response["hits"]["hits"]
                if hits:
                    yield [
                        StoredHit(
                            h["_index"], h["_id"], h["_source"], h["_seq_no"], h["_primary_term"]
                        )
                        for h in hits
                    ]
                if len(hits) < WALK_PAGE:
                    return
                after = hits[-1]["sort"]
        finally:
            with suppress(ApiError, TransportError):  # it expires by itself
                self._client.close_point_in_time(id=pit)

    def ids_matching(self, index: str, query: Mapping[str, Any], ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), WALK_PAGE):
            chunk = list(ids[start : start + WALK_PAGE])
            body = {"bool": {"filter": [dict(query), {"ids": {"values": chunk}}]}}
            try:
                response = self._client.search(
                    index=index,
                    query=body,
                    size=len(chunk),
                    source=False,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                )
            except NotFoundError:
                return found
            except (ApiError, TransportError) as err:
                raise unavailable(err, f"cannot search {index}") from err
            found.update(h["_id"] for h in response["hits"]["hits"])
        return found

    def count(self, index: str, query: Mapping[str, Any]) -> int:
        try:
            response = self._client.count(
                index=index, query=dict(query), ignore_unavailable=True, allow_no_indices=True
            )
        except NotFoundError:
            return 0
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot count in {index}") from err
        return int(response["count"])

    def _blocks(self, index: str) -> list[str]:
        settings = self._client.indices.get_settings(index=index, flat_settings=True)
        flat = settings[index]["settings"]
        return [b for b in _BLOCKS if str(flat.get(f"index.blocks.{b}", "false")) == "true"]

    def rewrite(self, changes: Sequence[tuple[StoredHit, Mapping[str, Any]]]) -> int:
        by_index: dict[str, list[tuple[StoredHit, Mapping[str, Any]]]] = {}
        for hit, source in changes:
            by_index.setdefault(hit.index, []).append((hit, source))
        written = 0
        for index, items in by_index.items():
            try:
                blocks = self._blocks(index)
                if blocks:
                    self._client.indices.put_settings(
                        index=index, settings={f"index.blocks.{b}": False for b in blocks}
                    )
                try:
                    written += self._write(index, items)
                    # The next point-in-time must see the new versions.
                    self._client.indices.refresh(index=index)
                finally:
                    for block in blocks:
                        self._client.indices.add_block(index=index, block=block)
            except (ApiError, TransportError) as err:
                raise unavailable(err, f"cannot rewrite documents of {index}") from err
        return written

    def _write(self, index: str, items: list[tuple[StoredHit, Mapping[str, Any]]]) -> int:
        operations: list[dict[str, Any]] = []
        for hit, source in items:
            operations.append(
                {
                    "index": {
                        "_index": index,
                        "_id": hit.doc_id,
                        "if_seq_no": hit.seq_no,
                        "if_primary_term": hit.primary_term,
                    }
                }
            )
            operations.append(dict(source))
        written = 0
        for start in range(0, len(operations), 2 * WALK_PAGE):
            response = self._client.bulk(operations=operations[start : start + 2 * WALK_PAGE])
            for item in response["items"]:
                result = item["index"]
                if result.get("status") == 409:
                    raise ConflictError(
                        f"{index}/{result['_id']} changed while it was being rewritten: rerun"
                    )
                if "error" in result:
                    raise StoreUnavailable(f"cannot rewrite {index}/{result['_id']}: {result}")
                written += 1
        return written

    def refresh(self, index: str) -> None:
        try:
            self._client.indices.refresh(
                index=index, ignore_unavailable=True, allow_no_indices=True
            )
        except NotFoundError:
            return
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot refresh {index}") from err

    def indices(self, pattern: str) -> list[str]:
        try:
            found = self._client.indices.get(
                index=pattern, allow_no_indices=True, expand_wildcards="open"
            )
        except NotFoundError:
            return []
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot list {pattern}") from err
        return sorted(found)
