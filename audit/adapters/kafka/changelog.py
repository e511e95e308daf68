"""The compacted changelog of detector state: written per key, read per partition.

Implements :class:`audit.services.ports.detection.StateChangelog`.

Written and restored with confluent-kafka (librdkafka):

- a write-out sends one record per changed key (thousands a second at 5,000
  events/s), which cost kafka-python's producer ~30 µs of the detector's
  CPU each against ~2 (bench_kafka_clients);
- its delivery reports make a refused record fail the flush, so the detector
  does not commit offsets past state the changelog lost (kafka-python's
  ``flush()`` returned as if all was well);
- records are compressed (zstd): a key's window is JSON that repeats its
  field names per event, and a burst on one key (an IP spraying thousands
  of users) makes it large; compressed it stays far under the broker's
  message limit. Restoring with the same client reads any codec without
  extra Python packages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as Partition

from audit.adapters.kafka.config import librdkafka_config
from audit.adapters.kafka.delivery import DeliveryReports, acknowledged_producer
from audit.settings import Settings

# librdkafka checks a record's uncompressed size against this before
# sending; the broker then judges the compressed batch against the topic's
# max.message.bytes (topics.CHANGELOG_MAX_MESSAGE_BYTES for a topic we create).
_MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024


class KafkaChangelog:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic_changelog
        # Built on first use: a constructor does no I/O.
        self._producer: Producer | None = None
        self._deliveries = DeliveryReports(self._topic)

    def _client(self) -> Producer:
        if self._producer is None:
            self._producer = acknowledged_producer(
                self._settings,
                "elastra-audit-changelog",
                compression_type="zstd",
                message_max_bytes=_MAX_UNCOMPRESSED_BYTES,
            )
        return self._producer

    def connect(self) -> None:
        """Start the producer now, without waiting for anything: it obtains
        its idempotent producer id while the detector joins its group,
        instead of during the first turn that writes state."""
        self._client()

    @property
    def connected(self) -> bool:
        """Whether the producer has been started (by :meth:`connect` or a write)."""
        return self._producer is not None

    def write(self, partition: int, changes: Sequence[tuple[str, bytes | None]]) -> None:
        """Queue each key's new state (None: a tombstone) to ``partition``."""
        producer, deliveries = self._client(), self._deliveries
        for key, value in changes:
            deliveries.produce(producer, self._topic, value, key=key.encode(), partition=partition)

    def flush(self) -> None:
        """Raises UndeliveredRecords if a state record was refused or is still
        unanswered: the detector must not commit the offsets it covers."""
        self._deliveries.flush(self._producer)

    def read(self, partition: int) -> Iterator[tuple[str, bytes | None]]:
        """Every record of ``partition`` up to its end when the read began, oldest first."""
        consumer = Consumer(
            {
                **librdkafka_config(self._settings),
                "client.id": "elastra-audit-changelog-restore",
                "group.id": "elastra-audit-changelog-restore",  # required; never joined
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "logger": logging.getLogger("audit.kafka.librdkafka"),
            }
        )
        try:
            tp = Partition(self._topic, partition)
            low, end = consumer.get_watermark_offsets(tp, timeout=60)
            if end <= low:
                return
            consumer.assign([Partition(self._topic, partition, OFFSET_BEGINNING)])
            while True:
                for record in consumer.consume(1000, 1.0):
                    error = record.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            return
                        raise KafkaException(error)
                    offset = record.offset() or 0  # None only for an error event
                    if offset >= end:
                        return
                    key = record.key()
                    yield (key.decode() if key is not None else ""), record.value()
                    if offset + 1 >= end:
                        return
        finally:
            consumer.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)
            self._producer = None
