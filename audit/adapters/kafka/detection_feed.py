"""The internal topic the detectors read: routed records and source progress."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
from kafka import KafkaProducer

from audit.adapters.kafka.config import connection_options
from audit.domain.detection.routing import RoutedEvent
from audit.settings import Settings

KIND_HEADER = "kind"
KIND_EVENT = b"event"
KIND_PROGRESS = b"progress"
PROGRESS_KEY = b"__progress__"


class KafkaDetectionFeed:
    """Implements :class:`audit.services.ports.DetectionFeed`.

    The producer is idempotent (kafka-python's default), so records and the
    progress markers that follow them stay in order within each partition:
    a marker never overtakes the records it vouches for.
    """

    def __init__(self, settings: Settings) -> None:
        self._topic = settings.topic_routed
        self._producer = KafkaProducer(
            client_id="elastra-audit-detection-feed",
            acks="all",
            linger_ms=5,
            batch_size=256 * 1024,
            **connection_options(settings),
        )
        self._partitions: list[int] | None = None

    def publish(self, routed: Sequence[RoutedEvent]) -> None:
        send = self._producer.send
        headers = [(KIND_HEADER, KIND_EVENT)]
        for record in routed:
            send(self._topic, key=record.key.encode(), value=record.to_json(), headers=headers)

    def publish_progress(self, progress: Mapping[str, int]) -> None:
        if not progress:
            return
        if self._partitions is None:
            self._partitions = sorted(self._producer.partitions_for(self._topic))
        value = orjson.dumps({"sources": dict(progress)})
        for partition in self._partitions:
            self._producer.send(
                self._topic,
                key=PROGRESS_KEY,
                value=value,
                partition=partition,
                headers=[(KIND_HEADER, KIND_PROGRESS)],
            )

    def flush(self) -> None:
        self._producer.flush()

    def close(self) -> None:
        self._producer.close()
