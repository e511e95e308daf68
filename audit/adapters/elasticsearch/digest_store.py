"""Signed digests in ``audit-digests`` (settings ``digest_index``).

One document per digest, ``_id`` = ``<organization>:<first_seq>`` and
``op_type=create``: two runs that sign the same segment store it once (the
second answers False). Writes refresh, so the next run sees them. Implements
:class:`audit.services.ports.integrity.DigestStore`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from pydantic import ValidationError

from audit.adapters.elasticsearch.versioned import VersionedIndex, ensure_index, unavailable
from audit.domain.integrity import Digest
from audit.services.ports.integrity import StoredDigest

MAPPING = "audit-digests"
PAGE = 1000


def digest_id(organization_id: str, first_seq: int) -> str:
    return f"{organization_id}:{first_seq}"


def _parse(hit: dict[str, Any]) -> StoredDigest:
    try:
        return StoredDigest(hit["_id"], Digest.model_validate(hit["_source"]))
    except ValidationError as err:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        return StoredDigest(hit["_id"], None, problem)


class ElasticsearchDigestStore:
    def __init__(self, client: Elasticsearch, index: str) -> None:
        self._docs = VersionedIndex(client, index, "digest")
        self._client = client
        self.index = index

    def ensure_index(self) -> None:
        ensure_index(self._client, self.index, MAPPING)

    def _one(self, query: dict[str, Any]) -> StoredDigest | None:
        try:
            response = self._client.search(
                index=self.index,
                query=query,
                sort=[{"last_seq": "desc"}, {"first_seq": "desc"}],
                size=1,
                ignore_unavailable=True,
            )
        except NotFoundError:
            return None
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot search {self.index}") from err
        hits = response["hits"]["hits"]
        return _parse(hits[0]) if hits else None

    def latest(self, organization_id: str) -> StoredDigest | None:
        return self._one({"bool": {"filter": [{"term": {"organization_id": organization_id}}]}})

    def before(self, organization_id: str, seq: int) -> StoredDigest | None:
        return self._one(
            {
                "bool": {
                    "filter": [
                        {"term": {"organization_id": organization_id}},
                        {"range": {"last_seq": {"lt": seq}}},
                    ]
                }
            }
        )

    def create(self, digest: Digest) -> bool:
        return self._docs.create(
            digest_id(digest.organization_id, digest.first_seq), digest.as_dict()
        )

    def overlapping(
        self, organization_id: str, from_seq: int | None, to_seq: int | None
    ) -> Iterator[StoredDigest]:
        filters: list[dict[str, Any]] = [{"term": {"organization_id": organization_id}}]
        if to_seq is not None:
            filters.append({"range": {"first_seq": {"lte": to_seq}}})
        if from_seq is not None:
            filters.append({"range": {"last_seq": {"gte": from_seq}}})
        try:
            pit_id: str = self._client.open_point_in_time(index=self.index, keep_alive="5m")["id"]
        except NotFoundError:
            return
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot open a point in time on {self.index}") from err
        after: list[Any] | None = None
        try:
            while True:
                body: dict[str, Any] = {
                    "size": PAGE,
                    "query": {"bool": {"filter": filters}},
                    "pit": {"id": pit_id, "keep_alive": "5m"},
                    "sort": [{"first_seq": "asc"}, {"last_seq": "asc"}, {"_shard_doc": "asc"}],
                    "track_total_hits": False,
                }
                if after is not None:
                    body["search_after"] = after
                try:
                    response = self._client.search(**body)
                except (ApiError, TransportError) as err:
                    raise unavailable(err, f"cannot search {self.index}") from err
                pit_id = response.get("pit_id", pit_id)
                hits = response["hits"]["hits"]
                for hit in hits:
                    yield _parse(hit)
                if len(hits) < PAGE:
                    return
                after = hits[-1]["sort"]
        finally:
            with suppress(ApiError, TransportError):  # it expires by itself
                self._client.close_point_in_time(id=pit_id)

    def refresh(self) -> None:
        self._docs.refresh()
