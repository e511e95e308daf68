"""The API's access events to the security topic: one producer, acks=all, one at a time."""

from __future__ import annotations

import threading

from kafka import KafkaProducer

from audit.adapters.kafka.config import BrokerProbe, connection_options
from audit.adapters.kafka.topics import ensure_topics
from audit.settings import Settings

_HEADERS = [("content-type", b"application/json"), ("schema", b"elastra.audit.v1")]


class KafkaAccessEventSink:
    """Implements :class:`audit.services.ports.events.AccessEventSink`.

    The producer (and the topic, when missing) is made on first use, so that
    building the API does not need the broker.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topic = settings.topic_security
        self._probe = BrokerProbe(settings.kafka_bootstrap, every=0.0)
        self._timeout = settings.api_audit_timeout_seconds
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def _get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                ensure_topics(self._settings, {self._topic: None})
                self._producer = KafkaProducer(
                    client_id="elastra-audit-api",
                    acks="all",
                    linger_ms=0,
                    max_block_ms=int(self._timeout * 1000),
                    **connection_options(self._settings),
                )
            return self._producer

    def send(self, key: bytes, value: bytes) -> None:
        future = self._get().send(self._topic, key=key, value=value, headers=_HEADERS)
        future.get(timeout=self._timeout)

    def reachable(self) -> bool:
        try:
            partitions = self._get().partitions_for(self._topic)
        except Exception:  # any client failure means "not reachable"
            return False
        # partitions_for answers from cached metadata even with the broker gone:
        # a broker must also accept a connection now.
        return bool(partitions) and self._probe.reachable()

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
