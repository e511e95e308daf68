"""One record per document, written with optimistic concurrency.

Shared by the incident and disclosure stores: ``create`` uses
``op_type=create`` (an existing id answers False), ``replace`` names the
``if_seq_no``/``if_primary_term`` it read (a concurrent write answers
:class:`ConflictError`). Writes refresh the index so that searches made
right after see them (records are few and written rarely).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from elasticsearch import ConflictError as EsConflict

from audit.adapters.elasticsearch.client import is_unavailable
from audit.adapters.elasticsearch.event_store import load_mapping
from audit.errors import ConflictError, NotFound, StoreUnavailable
from audit.services.ports.incidents import Version

PAGE = 500


def unavailable(err: Exception, what: str) -> Exception:
    """The error to raise for a failed request: StoreUnavailable when worth retrying."""
    if is_unavailable(err):
        return StoreUnavailable(f"{what}: {err}")
    return err


#: Above the events' templates (200): a service index whose name an events
#: pattern also matches (a deployment's own naming) still gets its own mapping.
SERVICE_TEMPLATE_PRIORITY = 500


def ensure_index(client: Elasticsearch, index: str, mapping: str) -> None:
    """Create ``index`` with the versioned mapping ``mapping`` unless it exists.

    The mapping is also installed as an index template matching that one
    name. A service writes to its indices long after it ensured them; if one
    is deleted meanwhile (by hand, by a script gone wrong), the next write
    would otherwise re-create it with dynamic mappings: identifiers as
    analysed text, fields indexed that must stay unindexed, searches that
    quietly find nothing. With the template the node re-creates it as it was.
    """
    body = load_mapping(mapping)
    try:
        client.indices.put_index_template(
            name=index,
            index_patterns=[index],
            priority=SERVICE_TEMPLATE_PRIORITY,
            template={"settings": body["settings"], "mappings": body["mappings"]},
            meta={"owner": "elastra-audit", "mapping": mapping},
        )
        if client.indices.exists(index=index):
            return
        # from the template: made and re-made alike
        client.indices.create(index=index)
    except ApiError as err:
        if err.error == "resource_already_exists_exception":
            return
        raise unavailable(err, f"cannot create index {index}") from err
    except TransportError as err:
        raise unavailable(err, f"cannot create index {index}") from err


class VersionedIndex:
    """Documents of one index read and written with their version."""

    def __init__(self, client: Elasticsearch, index: str, kind: str) -> None:
        self.client = client
        self.index = index
        self.kind = kind

    def get(self, doc_id: str) -> tuple[dict[str, Any], Version]:
        try:
            found = self.client.get(index=self.index, id=doc_id)
        except NotFoundError:
            raise NotFound(f"no {self.kind} {doc_id!r} (index {self.index})") from None
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot read {self.kind} {doc_id}") from err
        version = Version(int(found["_seq_no"]), int(found["_primary_term"]))
        return dict(found["_source"]), version

    def create(self, doc_id: str, source: dict[str, Any]) -> bool:
        try:
            self.client.index(
                index=self.index, id=doc_id, document=source, op_type="create", refresh=True
            )
        except EsConflict:
            return False
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot create {self.kind} {doc_id}") from err
        return True

    def replace(self, doc_id: str, source: dict[str, Any], version: Version) -> None:
        try:
            self.client.index(
                index=self.index,
                id=doc_id,
                document=source,
                if_seq_no=version.seq_no,
                if_primary_term=version.primary_term,
                refresh=True,
            )
        except EsConflict:
            raise ConflictError(
                f"{self.kind} {doc_id} changed since it was read; re-read and retry"
            ) from None
        except (ApiError, TransportError) as err:
            raise unavailable(err, f"cannot write {self.kind} {doc_id}") from err

    def search(self, query: dict[str, Any], sort: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Every matching source, following ``sort`` (which must end on a unique field)."""
        after: list[Any] | None = None
        while True:
            extra: dict[str, Any] = {"search_after": after} if after is not None else {}
            try:
                response = self.client.search(
                    index=self.index,
                    query=query,
                    sort=sort,
                    size=PAGE,
                    ignore_unavailable=True,
                    **extra,
                )
            except (ApiError, TransportError) as err:
                raise unavailable(err, f"cannot search {self.index}") from err
            hits = response["hits"]["hits"]
            for hit in hits:
                yield hit["_source"]
            if len(hits) < PAGE:
                return
            after = hits[-1]["sort"]

    def refresh(self) -> None:
        self.client.indices.refresh(index=self.index, ignore_unavailable=True)


def terms_query(filters: dict[str, list[str] | None]) -> dict[str, Any]:
    """A bool filter: each given field matches any of its values."""
    clauses = [{"terms": {field: values}} for field, values in filters.items() if values]
    return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}
