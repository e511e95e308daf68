"""The internal topic the detectors read: routed records and source progress.

Produced with confluent-kafka (librdkafka): its batching, sending and
acknowledgements run in C threads that do not hold the GIL, so the ingest
loop's wait for ``acks=all`` no longer competes with its own Python work
(kafka-python's sender thread needed the GIL for every request).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import orjson
from confluent_kafka import KafkaException, Producer

from audit.adapters.kafka.delivery import DeliveryReports, UndeliveredRecords, acknowledged_producer
from audit.domain.detection.routing import RoutedEvent
from audit.settings import Settings

KIND_HEADER = "kind"
KIND_EVENTS = b"events"
KIND_PROGRESS = b"progress"
PROGRESS_KEY = b"__progress__"
# ~1,000 records of ~400-600 bytes: under the broker's 1 MiB message limit.
_RECORDS_PER_MESSAGE = 1000
# Group keys whose partition is remembered (a key recurs: the same IP, user,
# session): a dict lookup instead of encoding and hashing the key again.
# Cleared when full, so memory stays bounded under a key storm.
_KEYS_REMEMBERED = 65_536

_Headers = list[tuple[str, str | bytes | None]]


class KafkaDetectionFeed:
    """Implements :class:`audit.services.ports.DetectionFeed`.

    The producer is idempotent, so records and the progress markers that
    follow them stay in order within each partition, retries included: a
    marker never overtakes the records it vouches for.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic_routed
        self._client: Producer | None = None
        self._partitions: list[int] | None = None
        self._partition_of_key: dict[str, int] = {}
        self._deliveries = DeliveryReports(self._topic)

    @property
    def _producer(self) -> Producer:
        """Connected on first use: the constructor does no I/O."""
        if self._client is None:
            self._client = acknowledged_producer(self._settings, "elastra-audit-detection-feed")
        return self._client

    def connect(self) -> None:
        """Start the producer now, without waiting for anything.

        librdkafka connects and obtains the idempotent producer's id in its
        own threads; started while the consumer joins its group, the first
        batch's records no longer wait for that (measured from creation to
        the first acknowledgement: 0.06-0.5 s on a running broker, 1.6 s on
        a freshly started one; 4 ms when made 2 s before: BENCHMARKS.md).
        """
        self._producer  # noqa: B018 (created on first use)

    @property
    def connected(self) -> bool:
        """Whether the producer has been started (by :meth:`connect` or a send)."""
        return self._client is not None

    def _send(self, value: bytes, partition: int, headers: _Headers, key: bytes | None) -> None:
        self._deliveries.produce(
            self._producer, self._topic, value, key=key, partition=partition, headers=headers
        )

    def publish(self, routed: Sequence[RoutedEvent]) -> None:
        # One message per partition and batch, holding many records: the
        # detector decodes a few large messages instead of ~2.5 per event
        # (a message per record once dominated ingest, at ~70 µs each in
        # kafka-python's producer). The partition is chosen here by
        # a stable hash of the group key, so all of a key's records still
        # reach one partition, in order.
        if not routed:
            return
        partitions = self._partition_list()
        count = len(partitions)
        by_key = self._partition_of_key
        chunks: dict[int, list[RoutedEvent]] = {}
        for record in routed:
            partition = by_key.get(record.key)
            if partition is None:
                if len(by_key) >= _KEYS_REMEMBERED:
                    by_key.clear()
                partition = by_key[record.key] = partitions[zlib.crc32(record.key.encode()) % count]
            chunk = chunks.get(partition)
            if chunk is None:
                chunks[partition] = [record]
            else:
                chunk.append(record)
        headers: _Headers = [(KIND_HEADER, KIND_EVENTS)]
        for partition, records in chunks.items():
            for start in range(0, len(records), _RECORDS_PER_MESSAGE):
                value = RoutedEvent.array_json(records[start : start + _RECORDS_PER_MESSAGE])
                self._send(value, partition, headers, None)

    def _partition_list(self) -> list[int]:
        if self._partitions is None:
            try:
                metadata = self._producer.list_topics(self._topic, timeout=60).topics[self._topic]
            except KafkaException as err:
                raise UndeliveredRecords(f"no metadata for {self._topic}: {err}") from err
            if metadata.error is not None or not metadata.partitions:
                raise UndeliveredRecords(f"no partitions known for {self._topic}: {metadata.error}")
            self._partitions = sorted(metadata.partitions)
        return self._partitions

    def publish_progress(self, progress: Mapping[str, int]) -> None:
        if not progress:
            return
        partitions = self._partition_list()
        value = orjson.dumps({"sources": dict(progress)})
        headers: _Headers = [(KIND_HEADER, KIND_PROGRESS)]
        for partition in partitions:
            self._send(value, partition, headers, PROGRESS_KEY)

    def flush(self) -> None:
        """Raises UndeliveredRecords if a routed record or marker was refused: the
        ingest batch must not be committed, or detection would miss its events."""
        self._deliveries.flush(self._client)

    def close(self) -> None:
        if self._client is not None:
            self._client.flush(10)
            self._client = None
