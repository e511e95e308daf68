"""Events too late for detection, recorded on the dead-letter topic with the reason.

Implements :class:`audit.services.ports.detection.TooLateSink`. On-call
lists them with ``audit detections late`` (error type ``detection_too_late``);
the event itself is stored in ``audit-events`` as usual.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from kafka import KafkaProducer

from audit.adapters.kafka.config import connection_options
from audit.adapters.kafka.dead_letters import HEADER_ERROR_MESSAGE, HEADER_ERROR_TYPE
from audit.domain.detection.engine import TooLate
from audit.domain.detection.routing import from_us
from audit.settings import Settings

ERROR_TYPE = "detection_too_late"


class KafkaTooLateSink:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: KafkaProducer | None = None  # built on first use: no I/O here

    def record(self, items: Sequence[TooLate]) -> None:
        if self._producer is None:
            self._producer = KafkaProducer(
                client_id="elastra-audit-detector-too-late",
                acks="all",
                **connection_options(self._settings),
            )
        for item in items:
            value = orjson.dumps(
                {
                    "rule_id": item.rule_id,
                    "key": item.key,
                    "event_id": item.event_id,
                    "event_time": from_us(item.time_us).isoformat(),
                    "watermark": from_us(item.watermark_us).isoformat(),
                    "reason": item.reason,
                }
            )
            headers = [
                (HEADER_ERROR_TYPE, ERROR_TYPE.encode()),
                (HEADER_ERROR_MESSAGE, item.reason.encode()[:1000]),
                ("rule_id", item.rule_id.encode()),
            ]
            self._producer.send(
                self._settings.topic_dlq, key=item.key.encode(), value=value, headers=headers
            )

    def flush(self) -> None:
        if self._producer is not None:
            self._producer.flush()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
