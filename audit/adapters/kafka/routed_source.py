"""The detector's consumer of the routed topic: records and progress markers, decoded.

Implements :class:`audit.services.ports.detection.RoutedSource`. The ingest
side writes two kinds of message (:mod:`audit.adapters.kafka.detection_feed`),
told apart by the ``kind`` header: a JSON array of routed records, or a
progress marker ``{"sources": {"topic:partition": clock_us}}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping

import orjson
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from audit.adapters.kafka.config import BrokerProbe, connection_options
from audit.adapters.kafka.detection_feed import KIND_HEADER, KIND_PROGRESS
from audit.domain.detection.routing import RoutedEvent
from audit.services.ports.detection import AssignmentChanges, RoutedMessage
from audit.settings import Settings

log = logging.getLogger(__name__)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Notes partition moves; the run loop acts on them after poll returns
    (kafka-python refuses blocking client calls inside its callbacks)."""

    def __init__(self) -> None:
        self.changes = AssignmentChanges()
        # Run before partitions go (inside poll: it must not call the consumer).
        self.on_revoke: Callable[[], None] | None = None

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        revoked = list(revoked)
        if revoked and self.on_revoke is not None:
            self.on_revoke()
        self.changes.revoked.update(tp.partition for tp in revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.changes.assigned.update(tp.partition for tp in assigned)


class KafkaRoutedSource:
    def __init__(self, settings: Settings) -> None:
        """Builds the consumer; it connects on the first poll."""
        self._settings = settings
        self._topic = settings.topic_routed
        self._listener = _Listener()
        self._consumer: KafkaConsumer | None = None
        self._probe = BrokerProbe(settings.kafka_bootstrap)
        self._deferred: dict[int, int] = {}
        self._broker_lost = False

    def _client(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                group_id=self._settings.detector_group,
                client_id="elastra-audit-detector",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=5000,
                **connection_options(self._settings),
            )
            self._consumer.subscribe([self._topic], listener=self._listener)
        return self._consumer

    def poll(self, timeout_ms: int) -> list[RoutedMessage]:
        """The next messages; none while no broker answers (the timeout is
        waited out: the loop says not ready meanwhile, ``reachable``)."""
        began = time.monotonic()
        try:
            polled = self._client().poll(timeout_ms=timeout_ms)
        except KafkaError as err:
            # kafka-python 3 raises a failed metadata refresh out of poll
            # when the broker went away during it (most polls of an outage
            # just come back empty): an outage to wait out, not an end.
            if not err.retriable:
                raise
            if not self._broker_lost:
                log.warning("no broker answers (%s): waiting for one", err)
                self._broker_lost = True
            time.sleep(max(0.0, timeout_ms / 1000 - (time.monotonic() - began)))
            return []
        self._broker_lost = False
        messages: list[RoutedMessage] = []
        for tp, records in polled.items():
            for record in records:
                kind = dict(record.headers or ()).get(KIND_HEADER)
                if kind == KIND_PROGRESS:
                    sources = {k: int(v) for k, v in orjson.loads(record.value)["sources"].items()}
                    messages.append(RoutedMessage(tp.partition, record.offset, sources=sources))
                else:
                    events = RoutedEvent.array_from_json(record.value)
                    messages.append(RoutedMessage(tp.partition, record.offset, events=events))
        return messages

    def set_revoke_hook(self, hook: Callable[[], None]) -> None:
        """``hook`` runs before partitions are taken away (the detector writes
        out what it evaluated, so that their next owner restores it)."""
        self._listener.on_revoke = hook

    def take_assignment_changes(self) -> AssignmentChanges:
        changes, self._listener.changes = self._listener.changes, AssignmentChanges()
        return changes

    def expected_sources(self) -> list[str]:
        consumer = self._client()
        sources: list[str] = []
        for topic in self._settings.audit_topics:
            partitions = consumer.partitions_for_topic(topic) or set()
            sources.extend(f"{topic}:{p}" for p in sorted(partitions))
        return sources

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit what is still ours; while the broker is away (or the group is
        rebalancing) keep the offsets for the next commit instead of dying: the
        state and detections they cover are already written, idempotently."""
        consumer = self._client()
        owned = consumer.assignment()
        pending = dict(self._deferred)
        for partition, offset in offsets.items():
            pending[partition] = max(offset, pending.get(partition, -1))
        self._deferred = {}
        to_commit = {
            tp: OffsetAndMetadata(offset, "", -1)
            for partition, offset in pending.items()
            if (tp := TopicPartition(self._topic, partition)) in owned
        }
        if not to_commit:
            return
        try:
            consumer.commit(to_commit)
        except KafkaError as err:
            log.warning("commit deferred (%s): the next commit carries these offsets", err)
            self._deferred = {tp.partition: meta.offset for tp, meta in to_commit.items()}

    def reachable(self) -> bool:
        """A broker accepts connections now (checked at most every 5 s)."""
        return self._probe.reachable()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
