"""Publish-to-detection latency under a steady load, on the local stack.

    .venv/bin/python bench/bench_detection_latency.py [--rate 5000] [--seconds 30]
        [--lateness 120] [--warmup 5] [--monotone-only]

Starts an ingest consumer and a detector (subprocesses, fresh topics and
groups), publishes benign traffic at --rate events/s with event time = now,
and once a second a burst of 10 failed logins for a new user (one
auth.brute_force detection each: a monotone rule, fired on arrival) and a
successful login from a new country for a user with an established history
(one auth.new_country detection each: new_value, not monotone, so it waits
for the watermark: the slowest source minus the allowed lateness). The
latency is from the broker's acknowledgement of the last event to the
detection's ``detected_at``, p50 and p99 per rule; for auth.brute_force
also until the detection can be found in Elasticsearch, and where the time
went: broker ack -> read by the ingest consumer (``event.ingested``) -> fed
to the detectors once stored (the routed message's timestamp) ->
``detected_at`` (per burst on stderr). Bursts start after --warmup seconds of
benign traffic, and once the ingest consumer keeps up with it: its
committed offsets less than one second of traffic behind the topics' ends
(checked once a second, for at most --settle seconds; ``settled_after_s``
in the result says how long that took, ``null`` if it never did and the
bursts started anyway). On these two shared cores a cold node (a fresh
stack's first index) can hold the first writes back for seconds; a
consumer that then starts behind, with the load generator, the detector
and the node on the same cores, may never catch up within the run, and
the latencies would measure that start rather than alerting in a live
system.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as ConfluentPartition
from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, TopicPartition

from audit.adapters.kafka.topics import ensure_detection_topics, ensure_topics
from audit.replay.traffic import TrafficGenerator, TrafficProfile, topic_for
from audit.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


class _Publisher:
    """The load generator's producer (``acks=all``): librdkafka, because it
    shares the two cores with what it measures, and at 5,000 events/s
    kafka-python's producer alone took ~22 µs of CPU per event (~2 here)."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key)
                break
            except BufferError:  # the local queue is full: let it drain
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self) -> None:
        if self._producer.flush(120) > 0:
            raise RuntimeError("the broker did not acknowledge every published event")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--lateness", type=float, default=120.0)
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of benign traffic before the first burst: a live system, not the"
        " processes' start (the day's index created, the organizations' first events stored)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="after the warmup, wait at most this long for the ingest consumer to keep up"
        " (committed offsets within one second of traffic) before the first burst",
    )
    parser.add_argument(
        "--monotone-only",
        action="store_true",
        help="measure auth.brute_force only: do not wait one lateness for auth.new_country",
    )
    args = parser.parse_args()

    tag = f"lat{uuid.uuid4().hex[:8]}"
    env = {
        "AUDIT_TOPIC_AUTH": f"{tag}.auth",
        "AUDIT_TOPIC_SECURITY": f"{tag}.security",
        "AUDIT_TOPIC_DLQ": f"{tag}.dlq",
        "AUDIT_TOPIC_ROUTED": f"{tag}.routed",
        "AUDIT_TOPIC_CHANGELOG": f"{tag}.changelog",
        "AUDIT_CONSUMER_GROUP": f"{tag}-ingest",
        "AUDIT_DETECTOR_GROUP": f"{tag}-detect",
        "AUDIT_INDEX_PREFIX": f"{tag}-events",
        "AUDIT_DETECTION_INDEX": f"{tag}-detections",
        "AUDIT_INCIDENT_INDEX": f"{tag}-incidents",
        "AUDIT_NOTIFICATION_INDEX": f"{tag}-notifications",
        "AUDIT_METRICS_PORT": "0",
        "AUDIT_DETECTOR_METRICS_PORT": "0",
        "AUDIT_DETECTION_LATENESS_SECONDS": str(args.lateness),
    }
    os.environ.update(env)
    settings = load_settings()
    ensure_topics(
        settings,
        {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
    )
    ensure_detection_topics(settings)
    logs = Path("/tmp") / tag
    logs.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "audit.cli.main", command],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=open(logs / f"{command}.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        for command in ("consume", "detect")
    ]
    producer = _Publisher(settings.kafka_bootstrap)
    topics = {"auth": settings.topic_auth, "security": settings.topic_security}
    # History for auth.new_country: 6 logins from FR over the past 8 days for
    # each traveller, published before the processes start (read before the
    # watermark reaches the present, so within the rule's reach).
    travellers = [f"usr_travel_{i}" for i in range(args.seconds + 5)]
    history_start = datetime.now(UTC) - timedelta(days=8)
    for user in travellers:
        for day in range(6):
            when = history_start + timedelta(days=day * 1.4)
            producer.send(
                topics["auth"], key=b"org_travel", value=_login(user, when, "FR", "success")
            )
    producer.flush()
    time.sleep(8)  # both join their groups
    watcher = _Visible(settings)
    watcher.start()
    generator = TrafficGenerator(
        TrafficProfile(organizations=50, users_per_organization=40, seed=1)
    )
    published_at: dict[str, float] = {}
    travelled_at: dict[str, float] = {}
    tick = 0.1
    per_tick = max(1, int(args.rate * tick))
    behind = _IngestLag(settings)
    started = time.monotonic()
    sent = 0
    settle_from = started + args.warmup
    settled_after: float | None = None
    next_check = settle_from
    next_burst = float("inf")  # once settled (or given up on)
    while len(published_at) < args.seconds:
        now = datetime.now(UTC)
        for event in generator.events(per_tick):
            event["@timestamp"] = now.isoformat().replace("+00:00", "Z")
            producer.send(
                topics[topic_for(event)],
                key=event["organization"]["id"].encode(),
                value=orjson.dumps(event),
            )
        sent += per_tick
        moment = time.monotonic()
        if next_burst == float("inf") and moment >= next_check:
            next_check = moment + 1.0
            if behind.events() <= args.rate:
                settled_after = moment - settle_from
                next_burst = moment
            elif moment - settle_from >= args.settle:
                next_burst = moment
        if moment >= next_burst:
            user = f"usr_burst_{len(published_at)}"
            for _ in range(10):
                event = {
                    "@timestamp": now.isoformat().replace("+00:00", "Z"),
                    "event": {
                        "id": str(uuid.uuid4()),
                        "action": "user.login",
                        "outcome": "failure",
                        "reason": "bad_password",
                        "provider": "auth-service",
                    },
                    "organization": {"id": "org_burst"},
                    "user": {"id": user},
                    "source": {"ip": "198.51.100.200"},
                }
                producer.send(topics["auth"], key=b"org_burst", value=orjson.dumps(event))
            traveller = travellers[len(travelled_at)]
            producer.send(
                topics["auth"], key=b"org_travel", value=_login(traveller, now, "JP", "success")
            )
            producer.flush()
            published_at[user] = travelled_at[traveller] = time.time()
            next_burst += 1.0
        elapsed = time.monotonic() - started
        target = sent / args.rate
        if target > elapsed:
            time.sleep(target - elapsed)
    producer.flush()
    behind.close()
    achieved = sent / (time.monotonic() - started)
    time.sleep(15 if args.monotone_only else args.lateness + 15)

    es = Elasticsearch(settings.es_url)
    es.indices.refresh(index=settings.detection_index)
    by_rule: dict[str, object] = {}
    measured = [("auth.brute_force", published_at)]
    if not args.monotone_only:
        measured.append(("auth.new_country", travelled_at))
    detected_by_user: dict[str, float] = {}
    for rule_id, acked in measured:
        hits = es.search(
            index=settings.detection_index, size=10_000, query={"term": {"rule_id": rule_id}}
        )["hits"]["hits"]
        latencies = []
        for hit in hits:
            user = hit["_source"]["group_key"].get("user.id", "")
            if user in acked:
                detected = datetime.fromisoformat(hit["_source"]["detected_at"]).timestamp()
                latencies.append(detected - acked[user])
                if rule_id == "auth.brute_force":
                    detected_by_user[user] = detected
        by_rule[rule_id] = _summary(latencies, len(acked))
    watcher.stop()
    by_rule["auth.brute_force searchable"] = _summary(
        [seen - published_at[user] for user, seen in watcher.seen.items() if user in published_at],
        len(published_at),
    )
    by_rule["auth.brute_force stages"] = _stages(
        es, settings, published_at, detected_by_user, _fed_at(settings, published_at)
    )
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=60)
    names = list(es.indices.get(index=f"{tag}-*"))
    if names:
        es.indices.delete(index=",".join(names))
    es.close()
    result = {
        "target_rate_events_per_s": args.rate,
        "achieved_rate_events_per_s": round(achieved),
        "lateness_s": args.lateness,
        "settled_after_s": None if settled_after is None else round(settled_after, 1),
        "logs": str(logs),
        **by_rule,
    }
    print(json.dumps(result, indent=2))


def _summary(latencies: list[float], expected: int) -> dict[str, object]:
    latencies.sort()
    if not latencies:
        return {"expected": expected, "detections": 0}
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "expected": expected,
        "detections": len(latencies),
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(p99, 3),
        "max_s": round(latencies[-1], 3),
    }


class _IngestLag:
    """How many events the ingest group's committed offsets are behind the
    ends of the audit topics (a reader outside the group: it joins nothing)."""

    def __init__(self, settings: Settings) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": settings.consumer_group,
                "enable.auto.commit": False,
            }
        )
        self._partitions = [
            ConfluentPartition(topic, partition)
            for topic in (settings.topic_auth, settings.topic_security)
            for partition in self._consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ]

    def events(self) -> int:
        total = 0
        for tp in self._consumer.committed(self._partitions, timeout=10):
            _, end = self._consumer.get_watermark_offsets(tp, timeout=10)
            total += end - max(tp.offset, 0)  # no commit yet: behind by all of it
        return total

    def close(self) -> None:
        self._consumer.close()


class _Visible(threading.Thread):
    """When each burst's detection can first be found in Elasticsearch (a
    search every 0.2 s): ``detected_at`` is stamped when the detector finds
    it; storing it and handing it to incidents follows."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self._settings = settings
        self._stopped = threading.Event()
        self.seen: dict[str, float] = {}

    def run(self) -> None:
        es = Elasticsearch(self._settings.es_url)
        while not self._stopped.is_set():
            try:
                es.indices.refresh(index=self._settings.detection_index)
                hits = es.search(
                    index=self._settings.detection_index,
                    size=10_000,
                    query={"term": {"rule_id": "auth.brute_force"}},
                    source=["group_key"],
                )["hits"]["hits"]
            except Exception:  # the index may not exist yet
                hits = []
            now = time.time()
            for hit in hits:
                self.seen.setdefault(hit["_source"]["group_key"].get("user.id", ""), now)
            self._stopped.wait(0.2)
        es.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def _fed_at(settings: Settings, users: dict[str, float]) -> dict[str, float]:
    """Per burst user: when the ingest consumer handed its last routed record
    to the detectors (the routed message's producer timestamp)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    partitions = [
        TopicPartition(settings.topic_routed, p)
        for p in sorted(consumer.partitions_for_topic(settings.topic_routed) or ())
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    # Progress markers keep arriving while the consumer runs: read to the
    # ends as they are now.
    ends = consumer.end_offsets(partitions)
    needles = {user: f'"user.id":"{user}"'.encode() for user in users}
    fed: dict[str, float] = {}
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        for records in consumer.poll(timeout_ms=1000).values():
            for record in records:
                for user, needle in needles.items():
                    if needle in record.value:
                        fed[user] = max(fed.get(user, 0.0), record.timestamp / 1000)
    consumer.close()
    return fed


def _stages(
    es: Elasticsearch,
    settings: Settings,
    acked: dict[str, float],
    detected: dict[str, float],
    fed: dict[str, float],
) -> dict[str, object]:
    """Where a burst's latency goes: broker ack -> read by the ingest consumer
    (the last event's ``event.ingested``) -> fed to the detectors (stored
    first) -> ``detected_at``; p50 and p99 of each step over the bursts."""
    es.indices.refresh(index=f"{settings.index_prefix}*")
    steps: dict[str, list[float]] = {"ack->read": [], "read->fed": [], "fed->detected": []}
    for user, ack in acked.items():
        hits = es.search(
            index=f"{settings.index_prefix}*",
            size=20,
            query={"term": {"user.id": user}},
            source=["event.ingested"],
        )["hits"]["hits"]
        if not hits or user not in fed or user not in detected:
            continue
        read = max(
            datetime.fromisoformat(h["_source"]["event"]["ingested"].replace("Z", "+00:00"))
            for h in hits
        ).timestamp()
        steps["ack->read"].append(read - ack)
        steps["read->fed"].append(fed[user] - read)
        steps["fed->detected"].append(detected[user] - fed[user])
        print(  # per burst, to stderr: where a slow one lost its time
            f"{user}: ack {ack:.3f} read +{read - ack:.3f} fed +{fed[user] - read:.3f}"
            f" detected +{detected[user] - fed[user]:.3f}",
            file=sys.stderr,
        )
    return {step: _summary(values, len(acked)) for step, values in steps.items()}


def _login(user: str, when: datetime, country: str, outcome: str) -> bytes:
    return orjson.dumps(
        {
            "@timestamp": when.isoformat().replace("+00:00", "Z"),
            "event": {
                "id": str(uuid.uuid4()),
                "action": "user.login",
                "outcome": outcome,
                "provider": "auth-service",
            },
            "organization": {"id": "org_travel"},
            "user": {"id": user},
            "source": {"ip": "203.0.113.50", "geo": {"country_iso_code": country}},
        }
    )


if __name__ == "__main__":
    main()
