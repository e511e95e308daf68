"""Ports of the detector's run loop (:mod:`audit.services.detector_loop`).

Adapters in ``audit.adapters`` implement them: the routed topic and the
changelog over Kafka, the detection writer over Elasticsearch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from audit.domain.detection.engine import TooLate
    from audit.domain.detection.record import Detection
    from audit.domain.detection.routing import RoutedEvent
    from audit.domain.incidents import Incident


@dataclass(frozen=True, slots=True)
class RoutedMessage:
    """One message of the routed topic, decoded.

    Either routed records (``events``) or a progress marker (``sources``:
    each ingest source partition's clock in µs), never both.
    """

    partition: int
    offset: int
    events: Sequence[RoutedEvent] = ()
    sources: Mapping[str, int] | None = None


@dataclass(slots=True)
class AssignmentChanges:
    """Partitions of the routed topic gained and lost since the last poll."""

    assigned: set[int] = field(default_factory=set)
    revoked: set[int] = field(default_factory=set)


class RoutedSource(Protocol):
    """The detector's consumer-group membership on the routed topic."""

    def poll(self, timeout_ms: int) -> list[RoutedMessage]:
        """The next messages of the owned partitions, in order per partition."""
        ...

    def take_assignment_changes(self) -> AssignmentChanges:
        """What the group moved during the polls since the last call."""
        ...

    def expected_sources(self) -> list[str]:
        """Every ingest source partition (``topic:partition``) whose progress a
        task must hear before its watermark moves."""
        ...

    def reachable(self) -> bool:
        """A broker answers now: not ready (/readyz) while none does."""
        ...

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit the next offset to read per partition (partitions no longer
        owned are skipped)."""
        ...

    def close(self) -> None: ...


class StateChangelog(Protocol):
    """The compacted changelog of detector state, one record per key."""

    def write(self, partition: int, changes: Sequence[tuple[str, bytes | None]]) -> None:
        """Queue each key's new state (None: a tombstone)."""
        ...

    def flush(self) -> None:
        """Block until everything queued is acknowledged."""
        ...

    def read(self, partition: int) -> Iterator[tuple[str, bytes | None]]:
        """Every record of ``partition`` up to its current end, oldest first."""
        ...


class DetectionWriter(Protocol):
    def put_many(self, detections: Sequence[Detection]) -> None:
        """Store each detection under its id in one request (a later version
        overwrites the earlier); :class:`audit.errors.StoreUnavailable` when
        any of them could not be stored."""
        ...


class DetectionHandler(Protocol):
    """What happens to stored detections next (incidents), in one call per batch."""

    def handle_detections(self, detections: Sequence[Detection], now: datetime) -> object: ...


class TooLateSink(Protocol):
    """Where events too late to evaluate are recorded for on-call, with the reason."""

    def record(self, items: Sequence[TooLate]) -> None: ...

    def flush(self) -> None: ...


class Liveness(Protocol):
    def beat(self) -> None: ...

    def ready(self, ok: bool) -> None: ...


@runtime_checkable
class BulkIncidentCreator(Protocol):
    """An incident store that can create many incidents in one request
    (the batch path of an alert storm uses it when the store offers it)."""

    def create_many(self, incidents: Sequence[Incident]) -> list[bool]:
        """Per incident: True if stored now, False if its id existed."""
        ...
