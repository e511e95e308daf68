"""Publishing messages to the audit topics (replay, demo, tests, benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

from kafka import KafkaProducer

from audit.adapters.kafka.config import connection_options
from audit.settings import Settings


class OutgoingMessage(Protocol):
    """A message for one of the two input topics (``replay.traffic.SyntheticMessage`` is one)."""

    @property
    def topic(self) -> Literal["auth", "security"]: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes: ...


_HEADERS = [("content-type", b"application/json"), ("schema", b"elastra.audit.v1")]


def publish(settings: Settings, messages: Iterable[OutgoingMessage]) -> int:
    """Send every message (acks=all) and return how many were sent."""
    producer = KafkaProducer(
        client_id="elastra-audit-replay",
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
        # Oversize messages are part of what replay exercises: the service,
        # not the producer, must refuse them.
        max_request_size=2 * 1024 * 1024,
        **connection_options(settings),
    )
    topics = {"auth": settings.topic_auth, "security": settings.topic_security}
    sent = 0
    try:
        for message in messages:
            producer.send(
                topics[message.topic], key=message.key, value=message.value, headers=_HEADERS
            )
            sent += 1
        producer.flush()
    finally:
        producer.close()
    return sent
