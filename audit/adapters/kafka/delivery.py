"""Knowing that what a producer sent was acknowledged.

For kafka-python (:class:`Deliveries`) and librdkafka (:class:`DeliveryReports`).
kafka-python's ``flush()`` waits for every send to complete but does not
raise when the broker refused one (a record too large for the topic, an
authorization error, retries exhausted): the failure stays in the send's
future. A sink whose ``flush`` promises acknowledgement keeps those futures
and raises :class:`UndeliveredRecords` for any that failed, so that the
caller commits nothing and the batch is read again.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Producer

from audit.adapters.kafka.config import librdkafka_config
from audit.errors import AuditError
from audit.settings import Settings

_PRUNE_AT = 10_000
#: As long as kafka-python's default delivery timeout: a broker away longer
#: fails the flush, and the batch or write-out with it.
DELIVERY_TIMEOUT_MS = 120_000


class UndeliveredRecords(AuditError):
    """The broker did not acknowledge records this process sent (refused or timed out).

    Nothing was committed: the batch is read again after a restart. The
    message names the topic and the broker's error; a refusal such as
    ``MessageSizeTooLargeError`` needs the topic's ``max.message.bytes`` raised.
    """


class Deliveries:
    """The futures of the sends since the last check."""

    def __init__(self, topic: str) -> None:
        self._topic = topic
        self._futures: list[Any] = []

    def track(self, future: Any) -> None:
        self._futures.append(future)
        if len(self._futures) >= _PRUNE_AT:
            # A caller that rarely flushes must not grow this without bound:
            # only failures and sends still in flight matter to ``check``.
            self._futures = [f for f in self._futures if not f.is_done or f.failed()]

    def check(self) -> None:
        """After ``flush()``: raise if any tracked send failed (then forget them all)."""
        futures, self._futures = self._futures, []
        failed = [f.exception for f in futures if f.is_done and f.failed()]
        if failed:
            raise UndeliveredRecords(
                f"{len(failed)} of {len(futures)} records to {self._topic} were not "
                f"acknowledged: {failed[0]!r}"
            )


class DeliveryReports:
    """The same promise for a librdkafka producer: its delivery reports, counted.

    librdkafka reports each record's fate to a callback served by
    ``poll``/``flush``; a failure is kept until :meth:`check` raises it.
    """

    def __init__(self, topic: str) -> None:
        self._topic = topic
        self._sent = 0
        self._failed: list[Any] = []

    def report(self, error: Any, message: Any) -> None:
        """The producer's ``on_delivery`` callback."""
        if error is not None:
            self._failed.append(error)

    def produce(self, producer: Producer, topic: str, value: bytes | None, **where: Any) -> None:
        """Queue one record (``where``: key, partition, headers), its delivery
        reported here; waits for room while librdkafka's local queue is full."""
        while True:
            try:
                producer.produce(topic, value=value, on_delivery=self.report, **where)
                break
            except BufferError:
                # The local queue is full: let librdkafka send, then retry.
                producer.poll(0.1)
        self._sent += 1

    def flush(self, producer: Producer | None) -> None:
        """Wait for every record queued so far; raise if any was not acknowledged."""
        unflushed = 0 if producer is None else producer.flush(DELIVERY_TIMEOUT_MS / 1000 + 10)
        self.check(unflushed)

    def check(self, unflushed: int = 0) -> None:
        """After ``flush()`` (which answers how many records are still queued):
        raise if any failed or is still unanswered (then forget them all)."""
        sent, failed = self._sent, self._failed
        self._sent, self._failed = 0, []
        if failed or unflushed:
            reason = repr(failed[0]) if failed else f"{unflushed} still queued after the flush"
            raise UndeliveredRecords(
                f"{len(failed) + unflushed} of {sent} records to {self._topic} were not "
                f"acknowledged: {reason}"
            )


def acknowledged_producer(settings: Settings, client_id: str, **extra: Any) -> Producer:
    """A librdkafka producer whose records are acknowledged by every replica,
    in order and once (idempotent, so retries neither reorder nor repeat),
    within :data:`DELIVERY_TIMEOUT_MS`. ``extra``: more properties, with
    dots written as underscores (``compression_type="zstd"``)."""
    return Producer(
        {
            **librdkafka_config(settings),
            "client.id": client_id,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
            "logger": logging.getLogger("audit.kafka.librdkafka"),
            **{name.replace("_", "."): value for name, value in extra.items()},
        }
    )
