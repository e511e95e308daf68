"""Reading the dead-letter topic from the beginning, without joining a group."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from audit.adapters.kafka.config import connection_options
from audit.settings import Settings


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


def read_dead_letters(settings: Settings, limit: int | None = None) -> Iterator[DeadLetter]:
    consumer = KafkaConsumer(
        client_id="elastra-audit-dlq-reader",
        enable_auto_commit=False,
        **connection_options(settings),
    )
    try:
        partitions = consumer.partitions_for_topic(settings.topic_dlq) or set()
        tps = [TopicPartition(settings.topic_dlq, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        count = 0
        while remaining:
            for tp, records in consumer.poll(timeout_ms=1000).items():
                for r in records:
                    yield DeadLetter(
                        r.partition,
                        r.offset,
                        r.timestamp,
                        r.key,
                        r.value,
                        {k: v.decode("utf-8", "replace") for k, v in r.headers},
                    )
                    count += 1
                    if limit is not None and count >= limit:
                        return
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()
