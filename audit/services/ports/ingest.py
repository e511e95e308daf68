"""Ports: the small interfaces services talk to instead of client libraries.

Adapters in ``audit.adapters`` implement them; tests of services use the
real adapters against the real servers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    from audit.domain.detection.routing import RoutedEvent


class MetricsRecorder(Protocol):
    """Records the metrics defined in ``audit.adapters.metrics``, by name."""

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None: ...

    def set(self, name: str, value: float, **labels: str) -> None: ...

    def observe(self, name: str, value: float, **labels: str) -> None: ...


@dataclass(slots=True)
class StoredDocument:
    """One document to create: where, under which id, with what source.

    ``body``, when set, is ``source`` already serialized as JSON (sealing
    serializes each document to hash it; the store writes those bytes
    instead of serializing the document a second time).

    Never changed once made (sealing makes a new one), but not frozen: one
    or two are made per event, and a frozen dataclass's ``__init__`` (which
    sets each field through ``object.__setattr__``) costs 3.5 times as much
    (531 against 151 ns here).
    """

    index: str
    doc_id: str
    source: dict[str, Any]
    body: bytes | None = None


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


class InboundMessage(NamedTuple):
    """A message as read from Kafka, kept whole for the dead-letter topic.

    A NamedTuple, not a frozen dataclass: one is made per message, and a
    frozen dataclass's ``__init__`` costs about three times as much.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


Partition = tuple[str, int]


class BatchSource(Protocol):
    """A member of the ingest consumer group: batches in, explicit commits out.

    The rebalance hooks run inside :meth:`poll_batch` and :meth:`wait_paused`
    (when the group moves partitions) and must not call the source back.
    """

    def set_rebalance_hooks(
        self, on_revoke: Callable[[], None], on_assign: Callable[[], None]
    ) -> None:
        """``on_revoke`` before partitions go; ``on_assign`` after new ones arrive."""
        ...

    def poll_batch(self, timeout_ms: int, max_records: int) -> list[InboundMessage]: ...

    def owned(self) -> set[Partition]:
        """The partitions assigned to this member now."""
        ...

    def wait_paused(self, seconds: float) -> set[Partition]:
        """Stay in the group for ``seconds`` reading nothing new; answer what is owned."""
        ...

    def resume_all(self) -> None:
        """Undo :meth:`wait_paused`: deliver again."""
        ...

    def reachable(self) -> bool:
        """A broker answers now: not ready (/readyz) while none does."""
        ...

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Commit the next offset of each partition still owned (others are skipped)."""
        ...

    def caught_up(self) -> dict[Partition, bool]:
        """Per owned partition: has this member read up to its end?"""
        ...

    def lag(self) -> dict[Partition, int] | None:
        """Messages behind per owned partition, or ``None`` when not measured this time."""
        ...

    def close(self) -> None: ...


class Liveness(Protocol):
    """What /healthz and /readyz answer from: alive, and ready to do work."""

    def beat(self) -> None: ...

    def ready(self, ok: bool) -> None: ...


class ProgressPublisher(Protocol):
    """Where the ingest side tells the detectors how far each source partition got."""

    def publish_progress(self, progress: Mapping[str, int]) -> None: ...

    def flush(self) -> None: ...


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
