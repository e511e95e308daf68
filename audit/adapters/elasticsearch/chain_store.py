"""Reading organizations' hash chains back from the event indices.

Every read goes through a point-in-time (one consistent view, even while the
consumer keeps writing) and ``search_after``, sorted by ``integrity.seq``
then ``_shard_doc``: constant memory whatever the chain's length. Implements
:class:`audit.services.ports.integrity.ChainStore`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from audit.adapters.elasticsearch.versioned import unavailable
from audit.services.ports.integrity import ChainQuery

KEEP_ALIVE = "5m"
PAGE = 5000


def query_dsl(query: ChainQuery) -> dict[str, Any]:
    """The fixed filter of a chain query (no client-supplied DSL)."""
    org = query.organization_id
    filters: list[dict[str, Any]] = [
        {
            "bool": {
                "should": [
                    {"term": {"integrity.chain": org}},
                    {"term": {"organization.id": org}},
                ],
                "minimum_should_match": 1,
            }
        }
    ]
    if query.from_seq is not None or query.to_seq is not None:
        seq: dict[str, int] = {}
        if query.from_seq is not None:
            seq["gte"] = query.from_seq
        if query.to_seq is not None:
            seq["lte"] = query.to_seq
        filters.append({"range": {"integrity.seq": seq}})
    if query.user_ids:
        filters.append({"terms": {"user.id": list(query.user_ids)}})
    if query.actions:
        filters.append({"terms": {"event.action": list(query.actions)}})
    if query.categories:
        filters.append({"terms": {"elastra.data_category": list(query.categories)}})
    for field, value in query.terms:
        filters.append({"term": {field: value}})
    if query.time_from is not None or query.time_to is not None:
        bounds: dict[str, str] = {}
        if query.time_from is not None:
            bounds["gte"] = query.time_from.isoformat()
        if query.time_to is not None:
            bounds["lt"] = query.time_to.isoformat()
        filters.append({"range": {"@timestamp": bounds}})
    dsl: dict[str, Any] = {"bool": {"filter": filters}}
    if query.exclude_categories:
        dsl["bool"]["must_not"] = [
            {"terms": {"elastra.data_category": list(query.exclude_categories)}}
        ]
    return dsl


class ElasticsearchChainSnapshot:
    """One point-in-time over the event alias (``None``: nothing stored yet)."""

    def __init__(self, client: Elasticsearch, pit_id: str | None, page_size: int = PAGE) -> None:
        self._client = client
        self.pit_id = pit_id
        self._page = page_size

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self.pit_id is not None
        body["pit"] = {"id": self.pit_id, "keep_alive": KEEP_ALIVE}
        try:
            response = self._client.search(**body)
        except (ApiError, TransportError) as err:
            raise unavailable(err, "cannot read the chain") from err
        self.pit_id = response.get("pit_id", self.pit_id)
        result: dict[str, Any] = response.body
        return result

    def documents(
        self, query: ChainQuery, *, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        if self.pit_id is None:
            return
        dsl = query_dsl(query)
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": self._page,
                "query": dsl,
                "sort": [
                    {"integrity.seq": {"order": "asc", "missing": "_last"}},
                    {"_shard_doc": "asc"},
                ],
                "track_total_hits": False,
            }
            if fields is not None:
                body["source"] = list(fields)
            if after is not None:
                body["search_after"] = after
            hits = self._search(body)["hits"]["hits"]
            for hit in hits:
                yield hit["_source"]
            if len(hits) < self._page:
                return
            after = hits[-1]["sort"]

    def count(self, query: ChainQuery) -> int:
        if self.pit_id is None:
            return 0
        body = {"size": 0, "query": query_dsl(query), "track_total_hits": True}
        return int(self._search(body)["hits"]["total"]["value"])

    def seq_bounds(self, query: ChainQuery) -> tuple[int, int] | None:
        if self.pit_id is None:
            return None
        body = {
            "size": 0,
            "query": query_dsl(query),
            "aggs": {
                "low": {"min": {"field": "integrity.seq"}},
                "high": {"max": {"field": "integrity.seq"}},
            },
        }
        aggs = self._search(body)["aggregations"]
        if aggs["low"]["value"] is None:
            return None
        return int(aggs["low"]["value"]), int(aggs["high"]["value"])

    def close(self) -> None:
        if self.pit_id is not None:
            with suppress(ApiError, TransportError):  # it expires by itself
                self._client.close_point_in_time(id=self.pit_id)
            self.pit_id = None


class ElasticsearchChainStore:
    def __init__(self, client: Elasticsearch, index: str, page_size: int = PAGE) -> None:
        self._client = client
        self._index = index  # the read alias (the index prefix)
        self._page = page_size

    @contextmanager
    def snapshot(self) -> Iterator[ElasticsearchChainSnapshot]:
        try:
            pit = self._client.open_point_in_time(index=self._index, keep_alive=KEEP_ALIVE)
            pit_id: str | None = pit["id"]
        except NotFoundError:
            pit_id = None  # no index behind the alias yet
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot open a point in time on {self._index}") from err
        snapshot = ElasticsearchChainSnapshot(self._client, pit_id, self._page)
        try:
            yield snapshot
        finally:
            snapshot.close()

    def heads(self) -> dict[str, int]:
        heads: dict[str, int] = {}
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {
                "size": 1000,
                "sources": [{"chain": {"terms": {"field": "integrity.chain"}}}],
            }
            if after is not None:
                composite["after"] = after
            try:
                response = self._client.search(
                    index=self._index,
                    size=0,
                    aggs={
                        "chains": {
                            "composite": composite,
                            "aggs": {"head": {"max": {"field": "integrity.seq"}}},
                        }
                    },
                    ignore_unavailable=True,
                    allow_no_indices=True,
                )
            except NotFoundError:
                return heads
            except (ApiError, TransportError) as err:
                raise unavailable(err, "cannot list the chains") from err
            result = (response.body.get("aggregations") or {}).get("chains")
            if not result or not result["buckets"]:
                return heads
            for bucket in result["buckets"]:
                if bucket["head"]["value"] is not None:
                    heads[bucket["key"]["chain"]] = int(bucket["head"]["value"])
            after = result.get("after_key")
            if after is None:
                return heads
