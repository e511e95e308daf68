"""The event store: daily indices behind the ``audit-events`` alias.

Writes use ``op_type=create`` with ``_id = event.id``: a redelivered event
answers 409 and is counted as a duplicate, never stored twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from importlib import resources
from typing import Any

import orjson
from elasticsearch import ApiError, Elasticsearch, TransportError

from audit.adapters.elasticsearch.client import is_unavailable
from audit.domain.integrity.chain import ChainHead, head_of
from audit.domain.retention.indices import EVENTS_PREFIX, parse_index_name
from audit.errors import StoreUnavailable
from audit.services.ports.ingest import BulkItem, BulkOutcome, StoredDocument

_BULK_HEADERS = {"content-type": "application/x-ndjson", "accept": "application/json"}
_BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"


def load_mapping(name: str) -> dict[str, Any]:
    """A versioned index template body from ``audit/data/mappings``."""
    text = (resources.files("audit") / "data" / "mappings" / f"{name}.json").read_text()
    body: dict[str, Any] = json.loads(text)
    return body


class ElasticsearchEventStore:
    """Implements :class:`audit.services.ports.EventStore`."""

    def __init__(self, client: Elasticsearch, index_prefix: str = "audit-events") -> None:
        self._client = client
        self._prefix = index_prefix

    def ensure_templates(self) -> None:
        body = load_mapping("audit-events")
        # Template and alias are named after the prefix so that several
        # deployments (or test runs) can share one cluster.
        body["index_patterns"] = [f"{self._prefix}-*"]
        body.setdefault("template", {})["aliases"] = {self._prefix: {}}
        try:
            self._client.indices.put_index_template(name=self._prefix, **body)
        except (ApiError, TransportError) as err:
            if is_unavailable(err):
                raise StoreUnavailable(f"cannot install the index template: {err}") from err
            raise

    def index_name(self, retention_class: str, day: str) -> str:
        return f"{self._prefix}-{retention_class}-{day}"

    def retention_classes_of_day(self, day: date) -> set[str]:
        """Implements ``DailyEventIndexes``: the classes with an index for ``day``."""
        text = f"{day:%Y.%m.%d}"
        head = f"{self._prefix}-"
        try:
            answer = self._client.cat.indices(
                index=self.index_name("*", text), h="index", format="json", expand_wildcards="all"
            )
        except (ApiError, TransportError) as err:
            if is_unavailable(err):
                raise StoreUnavailable(f"cannot list the indices of {text}: {err}") from err
            raise
        rows: list[dict[str, str]] = answer.body  # type: ignore[assignment]  # format=json
        # read as the domain's name (the default prefix), which checks the
        # class and the day
        parsed = (
            parse_index_name(EVENTS_PREFIX + row["index"][len(head) :])
            for row in rows
            if row["index"].startswith(head)
        )
        return {name.retention_class for name in parsed if name is not None and name.day == day}

    def create_event_index(self, retention_class: str, day: date) -> bool:
        """Implements ``DailyEventIndexes``: the empty index, from the template."""
        name = self.index_name(retention_class, f"{day:%Y.%m.%d}")
        try:
            self._client.indices.create(index=name)
        except (ApiError, TransportError) as err:
            if getattr(err, "error", None) == "resource_already_exists_exception":
                return False
            if is_unavailable(err):
                raise StoreUnavailable(f"cannot create {name}: {err}") from err
            raise
        return True

    def bulk_create(self, documents: Sequence[StoredDocument]) -> BulkOutcome:
        if not documents:
            return BulkOutcome(items=())
        # One action prefix per index (a batch spans a few daily indices),
        # then the id and the source, each serialized once.
        prefixes: dict[str, bytes] = {}
        lines: list[bytes] = []
        append = lines.append
        dumps = orjson.dumps
        for doc in documents:
            prefix = prefixes.get(doc.index)
            if prefix is None:
                prefix = prefixes[doc.index] = (
                    b'{"create":{"_index":' + dumps(doc.index) + b',"_id":'
                )
            append(prefix + dumps(doc.doc_id) + b"}}")
            append(doc.body if doc.body is not None else dumps(doc.source))
        body = b"\n".join(lines) + b"\n"
        try:
            response = self._client.perform_request(
                "POST",
                "/_bulk",
                body=body,
                headers=_BULK_HEADERS,
                params={"filter_path": _BULK_FILTER},
            )
        except (ApiError, TransportError) as err:
            if is_unavailable(err):
                raise StoreUnavailable(f"bulk request failed: {err}") from err
            raise
        items = response.body.get("items", [])
        if len(items) != len(documents):
            raise StoreUnavailable(
                f"bulk answered {len(items)} items for {len(documents)} documents"
            )
        if response.body.get("errors") is False:
            # Every item created (the usual answer): no per-item reading.
            return BulkOutcome(items=(_CREATED,) * len(items))
        return BulkOutcome(items=tuple(_classify(item["create"]) for item in items))

    def refresh(self) -> None:
        try:
            self._client.indices.refresh(
                index=self._prefix, ignore_unavailable=True, allow_no_indices=True
            )
        except (ApiError, TransportError) as err:
            if is_unavailable(err):
                raise StoreUnavailable(f"refresh failed: {err}") from err
            raise

    def existing_ids(self, refs: Sequence[tuple[str, str]]) -> set[str]:
        """Which of these (index, id) documents are stored (real-time GET)."""
        if not refs:
            return set()
        docs = [{"_index": index, "_id": doc_id} for index, doc_id in refs]
        try:
            response = self._client.mget(docs=docs, source=False, filter_path="docs._id,docs.found")
        except (ApiError, TransportError) as err:
            if is_unavailable(err):
                raise StoreUnavailable(f"mget failed: {err}") from err
            raise
        # A missing daily index answers an error per document: not stored.
        return {d["_id"] for d in response["docs"] if d.get("found")}

    def latest_heads(self, organization_ids: Sequence[str]) -> dict[str, ChainHead]:
        """The stored chain head of each organization that has one."""
        if not organization_ids:
            return {}
        searches: list[dict[str, Any]] = []
        for org in organization_ids:
            searches.append(
                {"index": self._prefix, "ignore_unavailable": True, "allow_no_indices": True}
            )
            searches.append(
                {
                    "size": 1,
                    "query": {"term": {"integrity.chain": org}},
                    "sort": [{"integrity.seq": "desc"}],
                    "_source": ["integrity"],
                }
            )
        try:
            response = self._client.msearch(searches=searches)
        except (ApiError, TransportError) as err:
            if is_unavailable(err):
                raise StoreUnavailable(f"msearch failed: {err}") from err
            raise
        heads: dict[str, ChainHead] = {}
        for org, result in zip(organization_ids, response["responses"], strict=True):
            if "error" in result:
                status = int(result.get("status", 500))
                if status == 404:
                    continue
                raise StoreUnavailable(f"chain head of {org}: {result['error']}")
            hits = result["hits"]["hits"]
            if hits:
                head = head_of(hits[0]["_source"])
                if head is not None:
                    heads[org] = head
        return heads


_CREATED = BulkItem("created")
_DUPLICATE = BulkItem("duplicate")


def _classify(result: dict[str, Any]) -> BulkItem:
    status = int(result["status"])
    if status in (200, 201):
        return _CREATED
    if status == 409:
        return _DUPLICATE
    error = result.get("error") or {}
    reason = f"{error.get('type', 'error')}: {error.get('reason', '')}"[:512]
    if status == 429 or status >= 500:
        return BulkItem("retry", reason)
    return BulkItem("rejected", reason)
