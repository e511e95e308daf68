"""Building the data-subject rights services from settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.privacy_store import (
    ElasticsearchDocumentIndex,
    ElasticsearchErasureLedger,
    ElasticsearchRequestStore,
)
from audit.services.dsr import DsrService
from audit.services.subject_erasure import Indices, SubjectErasure
from audit.settings import Settings
from audit.wiring.subject_keys import build_committer, build_keyring
from audit.wiring.trail import build_trail

__all__ = [
    "build_committer",
    "build_dsr",
    "build_keyring",
    "build_ledger",
    "build_requests",
    "open_dsr",
    "request_reader",
]


def build_ledger(settings: Settings, client: Elasticsearch) -> ElasticsearchErasureLedger:
    ledger = ElasticsearchErasureLedger(client, settings.erasure_index)
    ledger.ensure_index()
    return ledger


def request_reader(settings: Settings, client: Elasticsearch) -> ElasticsearchRequestStore:
    """The request store for readers (the ingest consumer's restriction
    list): no index is created; a missing one lists no request."""
    return ElasticsearchRequestStore(client, settings.dsr_index)


def build_requests(settings: Settings, client: Elasticsearch) -> ElasticsearchRequestStore:
    store = ElasticsearchRequestStore(client, settings.dsr_index)
    store.ensure_index()
    return store


def build_dsr(settings: Settings, client: Elasticsearch) -> DsrService:
    """The data-subject request service (its indices ensured)."""
    from audit.adapters.elasticsearch.hold_store import ElasticsearchHoldStore
    from audit.adapters.signing_keys import load_key_ring

    requests = build_requests(settings, client)
    documents = ElasticsearchDocumentIndex(client)
    holds = ElasticsearchHoldStore(client, settings.hold_index)
    holds.ensure_index()
    indices = Indices(
        events=settings.index_prefix,
        detections=settings.detection_index,
        incidents=settings.incident_index,
        hold_copies=f"{settings.hold_copy_prefix}-*",
    )

    def erasure() -> SubjectErasure:
        return SubjectErasure(
            documents,
            build_ledger(settings, client),
            holds,
            build_keyring(settings, client),
            load_key_ring(settings).signing,
            indices,
        )

    return DsrService(
        requests,
        documents,
        settings.index_prefix,
        erasure,
        lambda: build_trail(settings, client).exporter(),
    )


@contextmanager
def open_dsr(settings: Settings) -> Iterator[DsrService]:
    """The data-subject request service over a client of its own, closed on exit."""
    client = build_client(settings)
    try:
        yield build_dsr(settings, client)
    finally:
        client.close()
