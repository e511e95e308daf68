"""The dead-letter topic: every refused message, whole, with the reason."""

from __future__ import annotations

from kafka import KafkaProducer

from audit.adapters.kafka.config import connection_options
from audit.adapters.kafka.delivery import Deliveries
from audit.services.ports.ingest import InboundMessage
from audit.settings import Settings

# Header names the contract promises (EVENTS.md, "dead-letter topic").
HEADER_ERROR_TYPE = "error.type"
HEADER_ERROR_MESSAGE = "error.message"
HEADER_SOURCE_TOPIC = "source.topic"
HEADER_SOURCE_PARTITION = "source.partition"
HEADER_SOURCE_OFFSET = "source.offset"

_MAX_REASON_BYTES = 1024


class KafkaDeadLetterSink:
    """Implements :class:`audit.services.ports.DeadLetterSink`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic_dlq
        self._deliveries = Deliveries(self._topic)
        self._client: KafkaProducer | None = None

    @property
    def _producer(self) -> KafkaProducer:
        """Connected on first use: the constructor does no I/O."""
        if self._client is None:
            self._client = KafkaProducer(
                client_id="elastra-audit-dlq",
                acks="all",
                retries=10,
                # A refused message may be up to the broker's limit, not ours.
                max_request_size=2 * 1024 * 1024,
                **connection_options(self._settings),
            )
        return self._client

    def send(self, message: InboundMessage, error_type: str, error_message: str) -> None:
        headers = [
            (k, v) for k, v in message.headers if k not in (HEADER_ERROR_TYPE, HEADER_ERROR_MESSAGE)
        ]
        headers += [
            (HEADER_ERROR_TYPE, error_type.encode()),
            (HEADER_ERROR_MESSAGE, error_message.encode()[:_MAX_REASON_BYTES]),
            (HEADER_SOURCE_TOPIC, message.topic.encode()),
            (HEADER_SOURCE_PARTITION, str(message.partition).encode()),
            (HEADER_SOURCE_OFFSET, str(message.offset).encode()),
        ]
        self._deliveries.track(
            self._producer.send(self._topic, key=message.key, value=message.value, headers=headers)
        )

    def flush(self) -> None:
        """Raises UndeliveredRecords if the broker refused a dead letter: the batch
        must not be committed, or the refused message would be lost."""
        if self._client is not None:
            self._client.flush()
        self._deliveries.check()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
