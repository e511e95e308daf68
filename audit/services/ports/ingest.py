"""Ports: the small interfaces services talk to instead of client libraries.

Adapters in ``audit.adapters`` implement them; tests of services use the
real adapters against the real servers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from audit.domain.detection.routing import RoutedEvent


class MetricsRecorder(Protocol):
    """Records the metrics defined in ``audit.adapters.metrics``, by name."""

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None: ...

    def set(self, name: str, value: float, **labels: str) -> None: ...

    def observe(self, name: str, value: float, **labels: str) -> None: ...


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One document to create: where, under which id, with what source."""

    index: str
    doc_id: str
    source: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BulkItem:
    """The store's answer for one document of a bulk write.

    ``created``: stored now; ``duplicate``: already stored (same id);
    ``retry``: the store was overloaded for this item; ``rejected``: the
    store refuses this document (e.g. a mapping error) and always will.
    """

    status: Literal["created", "duplicate", "retry", "rejected"]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    items: tuple[BulkItem, ...]


class EventStore(Protocol):
    def bulk_create(self, documents: Sequence[StoredDocument]) -> BulkOutcome:
        """Create each document unless its id exists; answers in order.

        Raises :class:`audit.errors.StoreUnavailable` when the whole request
        failed in a way worth retrying (unreachable, 429, 5xx).
        """
        ...


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message as read from Kafka, kept whole for the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


class DeadLetterSink(Protocol):
    def send(self, message: InboundMessage, error_type: str, error_message: str) -> None:
        """Queue the message with headers saying why it was not accepted."""
        ...

    def flush(self) -> None:
        """Block until every queued dead letter is acknowledged by the broker."""
        ...


class DetectionFeed(Protocol):
    """Where the ingest side sends what the detectors need."""

    def publish(self, routed: Sequence[RoutedEvent]) -> None:
        """Queue routed records, each to the partition of its group key."""
        ...

    def publish_progress(self, progress: Mapping[str, int]) -> None:
        """Queue, to every detector partition, each source's clock (µs)."""
        ...

    def flush(self) -> None:
        """Block until everything queued is acknowledged."""
        ...
