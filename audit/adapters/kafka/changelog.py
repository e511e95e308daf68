"""The compacted changelog of detector state: written per key, read per partition.

Implements :class:`audit.services.ports.detection.StateChangelog`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from audit.adapters.kafka.config import connection_options
from audit.settings import Settings


class KafkaChangelog:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic_changelog
        # Built on first use: a constructor does no I/O.
        self._producer: KafkaProducer | None = None

    def _client(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                client_id="elastra-audit-changelog",
                acks="all",
                linger_ms=5,
                batch_size=512 * 1024,
                max_request_size=4 * 1024 * 1024,
                **connection_options(self._settings),
            )
        return self._producer

    def write(self, partition: int, changes: Sequence[tuple[str, bytes | None]]) -> None:
        """Queue each key's new state (None: a tombstone) to ``partition``."""
        producer = self._client()
        for key, value in changes:
            producer.send(self._topic, key=key.encode(), value=value, partition=partition)

    def flush(self) -> None:
        if self._producer is not None:
            self._producer.flush()

    def read(self, partition: int) -> Iterator[tuple[str, bytes | None]]:
        """Every record of ``partition`` up to its current end, oldest first."""
        consumer = KafkaConsumer(
            client_id="elastra-audit-changelog-restore",
            enable_auto_commit=False,
            **connection_options(self._settings),
        )
        try:
            tp = TopicPartition(self._topic, partition)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            end = consumer.end_offsets([tp])[tp]
            while consumer.position(tp) < end:
                for records in consumer.poll(timeout_ms=1000).values():
                    for record in records:
                        if record.offset >= end:
                            return
                        yield record.key.decode(), record.value
        finally:
            consumer.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
