"""Fakes of the ingest ports (``audit.services.ports.ingest``).

:class:`FakeEventStore` behaves as ``ElasticsearchEventStore`` on the node:
``create`` by ``(index, _id)`` (a second create answers ``duplicate``, as the
409 does, even within one bulk request), the events mapping enforced per
item (``rejected`` with the node's reason), per-item overload (429 ->
``retry``), write blocks (403 -> ``rejected``), whole-request outages
(``StoreUnavailable``), real-time ``existing_ids`` (mget) but searches
(``latest_heads``) that see only what a ``refresh`` made visible.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from audit.adapters.kafka.delivery import UndeliveredRecords
from audit.adapters.metrics import METRICS
from audit.domain.detection.routing import RoutedEvent
from audit.domain.integrity.chain import ChainHead, head_of
from audit.services.ports.ingest import (
    BulkItem,
    BulkOutcome,
    InboundMessage,
    StoredDocument,
)
from tests.fakes.faults import Outages
from tests.fakes.mapping import index_name_error, mapping_error

Refusal = Callable[[StoredDocument], str | None]


class FakeEventStore:
    """Implements ``EventStore`` and the chain keeper's ``ChainStore``."""

    def __init__(self) -> None:
        self.indices: dict[str, dict[str, dict[str, Any]]] = {}
        self._searchable: set[tuple[str, str]] = set()
        self.outages = Outages()
        self.write_blocked: set[str] = set()
        self._overloaded: deque[int] = deque()
        self._refusals: list[Refusal] = []
        self.bulk_requests: list[list[StoredDocument]] = []
        self.refreshes = 0

    # --- failures on demand -------------------------------------------------

    def overload(self, items: int) -> None:
        """The next ``items`` documents written get 429 (``retry``), one bulk at a time."""
        self._overloaded.append(items)

    def refuse(self, refusal: Refusal) -> None:
        """Refuse (400) the documents for which ``refusal`` answers a reason."""
        self._refusals.append(refusal)

    # --- the port -----------------------------------------------------------

    def bulk_create(self, documents: Sequence[StoredDocument]) -> BulkOutcome:
        if not documents:
            return BulkOutcome(items=())
        self.outages.check("bulk request failed")
        # The adapter serializes with orjson (or writes the body sealing made):
        # what it cannot encode fails the request.
        bodies = [
            orjson.loads(doc.body if doc.body is not None else orjson.dumps(doc.source))
            for doc in documents
        ]
        self.bulk_requests.append(list(documents))
        overloaded = self._overloaded.popleft() if self._overloaded else 0
        items = []
        for position, (doc, body) in enumerate(zip(documents, bodies, strict=True)):
            items.append(self._create(doc, body, overloaded=position < overloaded))
        return BulkOutcome(items=tuple(items))

    def _create(self, doc: StoredDocument, body: dict[str, Any], *, overloaded: bool) -> BulkItem:
        problem = index_name_error(doc.index)
        if problem is not None:
            return BulkItem("rejected", problem)
        if overloaded:
            return BulkItem(
                "retry", "es_rejected_execution_exception: rejected execution of bulk shard"
            )
        if doc.index in self.write_blocked:
            return BulkItem(
                "rejected",
                f"cluster_block_exception: index [{doc.index}] blocked by: "
                "[FORBIDDEN/8/index write (api)];",
            )
        stored = self.indices.get(doc.index, {})
        if doc.doc_id in stored:
            return BulkItem("duplicate")
        problem = mapping_error(body, doc.doc_id)
        for refusal in self._refusals:
            problem = problem or refusal(doc)
        if problem is not None:
            return BulkItem("rejected", problem[:512])
        self.indices.setdefault(doc.index, {})[doc.doc_id] = body
        return BulkItem("created")

    # --- the chain keeper's store ------------------------------------------

    def refresh(self) -> None:
        self.outages.check("refresh failed")
        self.refreshes += 1
        self._searchable = {(i, d) for i, docs in self.indices.items() for d in docs}

    def existing_ids(self, refs: Sequence[tuple[str, str]]) -> set[str]:
        if not refs:
            return set()
        self.outages.check("mget failed")
        return {d for i, d in refs if d in self.indices.get(i, {})}

    def latest_heads(self, organization_ids: Sequence[str]) -> dict[str, ChainHead]:
        if not organization_ids:
            return {}
        self.outages.check("msearch failed")
        heads: dict[str, ChainHead] = {}
        for org in organization_ids:
            best: dict[str, Any] | None = None
            for source in self.searchable_documents():
                integrity = source.get("integrity")
                if not isinstance(integrity, dict) or integrity.get("chain") != org:
                    continue
                seq = integrity.get("seq")
                if isinstance(seq, int) and (best is None or seq > best["integrity"]["seq"]):
                    best = source
            if best is not None:
                head = head_of(best)
                if head is not None:
                    heads[org] = head
        return heads

    # --- inspection ---------------------------------------------------------

    def documents(self) -> list[dict[str, Any]]:
        """Every stored source (real time), in no particular order."""
        return [doc for docs in self.indices.values() for doc in docs.values()]

    def searchable_documents(self) -> list[dict[str, Any]]:
        return [self.indices[i][d] for i, d in sorted(self._searchable)]

    def count(self) -> int:
        return sum(len(docs) for docs in self.indices.values())


def _undelivered(topic: str) -> UndeliveredRecords:
    return UndeliveredRecords(
        f"1 of 1 records to {topic} were not acknowledged: KafkaTimeoutError()"
    )


@dataclass(frozen=True)
class DeadLetter:
    message: InboundMessage
    error_type: str
    error_message: str


class FakeDeadLetterSink:
    """Queues dead letters; only ``flush`` makes them ``delivered`` (acknowledged)."""

    def __init__(self) -> None:
        self.queued: list[DeadLetter] = []
        self.delivered: list[DeadLetter] = []
        self.failed: list[DeadLetter] = []
        self.outages = Outages()

    def send(self, message: InboundMessage, error_type: str, error_message: str) -> None:
        self.queued.append(DeadLetter(message, error_type, error_message))

    def broker_down(self, flushes: int = 1) -> None:
        """The next ``flushes`` flushes find sends not acknowledged (``UndeliveredRecords``,
        as ``KafkaDeadLetterSink.flush`` raises for a failed send)."""
        self.outages.down(flushes, _undelivered("dead-letter"))

    def flush(self) -> None:
        # A failed send is not retried by a later flush (the producer gave up on
        # it): the caller must not commit, and the batch is read again.
        try:
            self.outages.check("dead-letter flush")
        except Exception:
            self.failed.extend(self.queued)
            self.queued.clear()
            raise
        self.delivered.extend(self.queued)
        self.queued.clear()


@dataclass
class FakeDetectionFeed:
    """Records what was published; ``flush`` marks it acknowledged."""

    queued: list[RoutedEvent] = field(default_factory=list)
    delivered: list[RoutedEvent] = field(default_factory=list)
    failed: list[RoutedEvent] = field(default_factory=list)
    progress: list[dict[str, int]] = field(default_factory=list)
    outages: Outages = field(default_factory=Outages)

    def publish(self, routed: Sequence[RoutedEvent]) -> None:
        self.queued.extend(routed)

    def publish_progress(self, progress: Mapping[str, int]) -> None:
        if progress:
            self.progress.append(dict(progress))

    def broker_down(self, flushes: int = 1) -> None:
        self.outages.down(flushes, _undelivered("routed"))

    def flush(self) -> None:
        try:
            self.outages.check("detection feed flush")
        except Exception:
            self.failed.extend(self.queued)
            self.queued.clear()
            raise
        self.delivered.extend(self.queued)
        self.queued.clear()


class FakeMetrics:
    """Records metrics by name and labels, refusing what ``PrometheusMetrics`` refuses:
    an undefined name (``KeyError``), the wrong kind of metric (``AssertionError``),
    other label names than the metric's (``ValueError``), a negative increment."""

    def __init__(self) -> None:
        self._specs = {spec.name: spec for spec in METRICS}
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.observations: dict[str, list[float]] = {}

    def _check(self, name: str, kinds: tuple[str, ...], labels: dict[str, str]) -> None:
        spec = self._specs[name]
        assert spec.kind in kinds, f"{name} is a {spec.kind}"
        if labels and set(labels) != set(spec.labels):
            raise ValueError(f"Incorrect label names for {name}: {sorted(labels)}")
        if not labels and spec.labels:
            raise ValueError(f"{name} needs its labels {spec.labels}")

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self._check(name, ("counter", "gauge"), labels)
        if amount < 0 and self._specs[name].kind == "counter":
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        key = (name, tuple(sorted(labels.items())))
        self.counters[key] = self.counters.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        self._check(name, ("gauge",), labels)
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        self._check(name, ("histogram",), labels)
        self.observations.setdefault(name, []).append(value)

    def total(self, name: str, **labels: str) -> float:
        """Sum of ``name`` over every label set that includes ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, lbl), v in self.counters.items() if n == name and wanted <= set(lbl))
