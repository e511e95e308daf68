"""A consumer-group member that hands out batches and commits them explicitly."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from audit.adapters.kafka.config import BrokerProbe, connection_options
from audit.services.ports.ingest import InboundMessage
from audit.settings import Settings

log = logging.getLogger(__name__)

Partition = tuple[str, int]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, source: KafkaBatchSource) -> None:
        self._source = source

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        revoked = list(revoked)
        if revoked:
            log.info("partitions revoked: %s", sorted((tp.topic, tp.partition) for tp in revoked))
            # Another member may commit further for them now: never go back.
            for tp in revoked:
                self._source._uncommitted.pop((tp.topic, tp.partition), None)
            if self._source.on_revoke is not None:
                self._source.on_revoke()

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        assigned = list(assigned)
        if self._source.on_assign is not None:
            self._source.on_assign()
        if self._source.paused_for_outage and assigned:
            # Newly assigned partitions must not deliver while we wait out an
            # outage: nothing further is read until the batch is stored.
            self._source.consumer.pause(*assigned)
        log.info("partitions assigned: %s", sorted((tp.topic, tp.partition) for tp in assigned))


class KafkaBatchSource:
    """Implements :class:`audit.services.ports.ingest.BatchSource` over kafka-python.

    Connects and subscribes on first use: the constructor does no I/O.
    """

    def __init__(
        self,
        settings: Settings,
        topics: Collection[str],
        group_id: str,
        client_id: str = "elastra-audit-ingest",
    ) -> None:
        self.paused_for_outage = False
        # Hooks run inside poll(): they must not call this consumer (kafka-
        # python 3 refuses blocking client calls from its callbacks).
        self.on_revoke: Callable[[], None] | None = None
        self.on_assign: Callable[[], None] | None = None
        self._settings = settings
        self._topics = list(topics)
        self._group_id = group_id
        self._client_id = client_id
        self._consumer: KafkaConsumer | None = None
        self._probe = BrokerProbe(settings.kafka_bootstrap)
        self._lag_checked = 0.0
        # Offsets a rebalance kept from being committed, retried with the next.
        self._uncommitted: dict[Partition, int] = {}

    @property
    def consumer(self) -> KafkaConsumer:
        """The group member, connected on first use (the constructor does no I/O)."""
        if self._consumer is None:
            consumer = KafkaConsumer(
                group_id=self._group_id,
                client_id=self._client_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=self._settings.batch_max_records,
                # A long outage is waited out while polling paused partitions,
                # so this only bounds one batch's processing.
                max_poll_interval_ms=300_000,
                session_timeout_ms=20_000,
                heartbeat_interval_ms=3_000,
                fetch_max_bytes=16 * 1024 * 1024,
                max_partition_fetch_bytes=4 * 1024 * 1024,
                **connection_options(self._settings),
            )
            consumer.subscribe(self._topics, listener=_Listener(self))
            self._consumer = consumer
        return self._consumer

    def set_rebalance_hooks(
        self, on_revoke: Callable[[], None], on_assign: Callable[[], None]
    ) -> None:
        self.on_revoke = on_revoke
        self.on_assign = on_assign

    def poll_batch(self, timeout_ms: int, max_records: int) -> list[InboundMessage]:
        records = self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        batch: list[InboundMessage] = []
        for partition_records in records.values():
            for r in partition_records:
                batch.append(
                    InboundMessage(
                        topic=r.topic,
                        partition=r.partition,
                        offset=r.offset,
                        key=r.key,
                        value=r.value,
                        headers=tuple(r.headers or ()),
                        timestamp_ms=r.timestamp,
                    )
                )
        return batch

    def owned(self) -> set[Partition]:
        return {(tp.topic, tp.partition) for tp in self.consumer.assignment()}

    def wait_paused(self, seconds: float) -> set[Partition]:
        """Stay in the group for ``seconds`` without reading anything new."""
        self.paused_for_outage = True
        deadline = time.monotonic() + seconds
        while True:
            assignment = self.consumer.assignment()
            if assignment:
                self.consumer.pause(*assignment)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            records = self.consumer.poll(timeout_ms=int(min(remaining, 1.0) * 1000))
            # Defensive: a partition assigned between pause and poll might
            # still deliver; rewind it so those records are read later.
            for tp, partition_records in records.items():
                if partition_records:
                    self.consumer.seek(tp, partition_records[0].offset)
        return self.owned()

    def caught_up(self) -> dict[Partition, bool]:
        """Per owned partition: has this consumer read up to its end?"""
        result: dict[Partition, bool] = {}
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            try:
                position = self.consumer.position(tp)
            except KafkaError:  # the broker is away: vouch for nothing
                position = None
            result[(tp.topic, tp.partition)] = (
                highwater is not None and position is not None and position >= highwater
            )
        return result

    def resume_all(self) -> None:
        if self.paused_for_outage:
            self.consumer.resume(*self.consumer.paused())
            self.paused_for_outage = False

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        owned = self.owned()
        for partition, offset in offsets.items():
            if self._uncommitted.get(partition, -1) < offset:
                self._uncommitted[partition] = offset
        to_commit = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in self._uncommitted.items()
            if (topic, partition) in owned
        }
        self._uncommitted.clear()
        if not to_commit:
            return
        try:
            self.consumer.commit(to_commit)
        except KafkaError as err:
            # The group is moving partitions, or the broker is away (issue 11
            # item 14): keep these offsets for the next commit (if the
            # partitions stay ours) instead of dying; if they go, their new
            # owner reads those messages again and the store answers 409.
            log.warning("commit deferred: %s", err)
            for tp, meta in to_commit.items():
                partition = (tp.topic, tp.partition)
                if self._uncommitted.get(partition, -1) < meta.offset:
                    self._uncommitted[partition] = meta.offset

    def lag(self, min_interval: float = 10.0) -> dict[Partition, int] | None:
        """Messages between the position and the end of each owned partition."""
        now = time.monotonic()
        if now - self._lag_checked < min_interval:
            return None
        self._lag_checked = now
        assignment = list(self.consumer.assignment())
        if not assignment:
            return {}
        try:
            ends = self.consumer.end_offsets(assignment)
            return {
                (tp.topic, tp.partition): max(0, ends[tp] - self.consumer.position(tp))
                for tp in assignment
            }
        except KafkaError:  # the broker is away: no lag figure this time
            return None

    def reachable(self) -> bool:
        """A broker accepts connections now (checked at most every 5 s)."""
        return self._probe.reachable()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
