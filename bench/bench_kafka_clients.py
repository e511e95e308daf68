"""Process CPU per record of the two Kafka clients, consuming and producing.

    .venv/bin/python bench/bench_kafka_clients.py [--records 200000]

Needs a broker (``AUDIT_KAFKA_BOOTSTRAP``, default 127.0.0.1:9092). Publishes
N records of an audit event's size to a fresh 3-partition topic, then, in
alternating rounds (kafka-python first, then librdkafka, twice):
  consume: a fresh group reads all N, touching each record's topic,
           partition, offset, key, value, headers and timestamp, as the
           ingest's batch source does;
  produce: N records with acks=all, flushed every 2,000 (as a batch).
Reported per client and round: process CPU (``time.process_time``: every
thread, the client's own I/O threads included) and wall time per record.
Why it exists: the ingest consumer decodes every audit event, so this is
the cost the choice of client puts on each event (issue 16).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Callable

import confluent_kafka
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from kafka import KafkaConsumer, KafkaProducer

BATCH = 2000


def _value(i: int) -> bytes:
    return json.dumps(
        {
            "@timestamp": "2026-12-02T03:00:00.000Z",
            "event": {"id": str(uuid.UUID(int=i)), "action": "user.login", "outcome": "failure"},
            "organization": {"id": f"org_{i % 50:04d}"},
            "user": {"id": f"usr_{i % 2000:05d}"},
            "source": {"ip": "198.51.100.23", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"},
            "elastra": {"request_id": "r" * 32, "attributes": {"reason": "bad_password" * 4}},
        }
    ).encode()


def consume_kafka_python(bootstrap: str, topic: str, total: int) -> tuple[float, float]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-kp-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=BATCH,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    seen, started = 0, None
    while seen < total:
        records = consumer.poll(timeout_ms=500, max_records=BATCH)
        if records and started is None:
            started = (time.process_time(), time.perf_counter())
        for partition_records in records.values():
            for r in partition_records:
                _ = (r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ()))
                _ = r.timestamp
                seen += 1
    assert started is not None
    cpu, wall = time.process_time() - started[0], time.perf_counter() - started[1]
    consumer.close()
    return cpu, wall


def consume_librdkafka(bootstrap: str, topic: str, total: int) -> tuple[float, float]:
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-rd-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 16 * 1024 * 1024,
            "max.partition.fetch.bytes": 4 * 1024 * 1024,
        }
    )
    consumer.subscribe([topic])
    seen, started = 0, None
    while seen < total:
        messages = consumer.consume(BATCH, 0.5)
        if messages and started is None:
            started = (time.process_time(), time.perf_counter())
        for m in messages:
            if m.error() is not None:
                continue
            _ = (m.topic(), m.partition(), m.offset(), m.key(), m.value(), tuple(m.headers() or ()))
            _ = m.timestamp()
            seen += 1
    assert started is not None
    cpu, wall = time.process_time() - started[0], time.perf_counter() - started[1]
    consumer.close()
    return cpu, wall


def produce_kafka_python(bootstrap: str, topic: str, total: int) -> tuple[float, float]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    producer.send(topic, value=b"warm-up").get(30)
    value = _value(0)
    started = (time.process_time(), time.perf_counter())
    for i in range(total):
        producer.send(topic, value=value, key=b"org_%04d" % (i % 50), partition=i % 3)
        if i % BATCH == BATCH - 1:
            producer.flush()
    producer.flush()
    cpu, wall = time.process_time() - started[0], time.perf_counter() - started[1]
    producer.close()
    return cpu, wall


def produce_librdkafka(bootstrap: str, topic: str, total: int) -> tuple[float, float]:
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5}
    )
    producer.produce(topic, value=b"warm-up")
    producer.flush(30)
    value = _value(0)
    started = (time.process_time(), time.perf_counter())
    for i in range(total):
        while True:
            try:
                producer.produce(topic, value=value, key=b"org_%04d" % (i % 50), partition=i % 3)
                break
            except BufferError:
                producer.poll(0.05)
        if i % BATCH == BATCH - 1:
            producer.flush()
    producer.flush()
    cpu, wall = time.process_time() - started[0], time.perf_counter() - started[1]
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    bootstrap = os.environ.get("AUDIT_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    topic = f"bench-clients-{uuid.uuid4().hex[:8]}"
    sink = f"{topic}-produced"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 3, 1) for name in (topic, sink)]).values():
        future.result()
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i in range(args.records):
        while True:
            try:
                producer.produce(
                    topic, value=_value(i), key=b"org_%04d" % (i % 50), headers=[("h", b"v")]
                )
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush()

    runs: list[tuple[str, str, Callable[[str, str, int], tuple[float, float]], str]] = [
        ("consume", "kafka-python", consume_kafka_python, topic),
        ("consume", "librdkafka", consume_librdkafka, topic),
        ("produce", "kafka-python", produce_kafka_python, sink),
        ("produce", "librdkafka", produce_librdkafka, sink),
    ]
    try:
        for round_ in range(2):
            for kind, client, run, name in runs:
                cpu, wall = run(bootstrap, name, args.records)
                print(
                    json.dumps(
                        {
                            "round": round_,
                            "what": kind,
                            "client": client,
                            "cpu_us_per_record": round(cpu / args.records * 1e6, 2),
                            "wall_us_per_record": round(wall / args.records * 1e6, 2),
                        }
                    ),
                    flush=True,
                )
    finally:
        for future in admin.delete_topics([topic, sink]).values():
            future.result()


if __name__ == "__main__":
    main()
