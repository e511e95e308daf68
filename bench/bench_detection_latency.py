"""Publish-to-detection latency under a steady load, on the local stack.

    .venv/bin/python bench/bench_detection_latency.py [--rate 5000] [--seconds 30]
        [--lateness 120]

Starts an ingest consumer and a detector (subprocesses, fresh topics and
groups), publishes benign traffic at --rate events/s with event time = now,
and once a second a burst of 10 failed logins for a new user (one
auth.brute_force detection each). The latency of a burst is from the
publish of its 10th event (acknowledged by the broker) to the detection's
``detected_at``. The detector holds events until the watermark (the slowest
source minus the allowed lateness) passes them, so latency >= lateness by
design; run it with the default 120 s and with a short lateness to see
both the design bound and the pipeline's own cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
from elasticsearch import Elasticsearch
from kafka import KafkaProducer

from audit.adapters.kafka.topics import ensure_detection_topics, ensure_topics
from audit.replay.traffic import TrafficGenerator, TrafficProfile, topic_for
from audit.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--lateness", type=float, default=120.0)
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
    time.sleep(8)  # both join their groups
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5, batch_size=512 * 1024
    )
    topics = {"auth": settings.topic_auth, "security": settings.topic_security}
    generator = TrafficGenerator(
        TrafficProfile(organizations=50, users_per_organization=40, seed=1)
    )
    published_at: dict[str, float] = {}
    tick = 0.1
    per_tick = max(1, int(args.rate * tick))
    started = time.monotonic()
    sent = 0
    next_burst = started
    while time.monotonic() - started < args.seconds:
        now = datetime.now(UTC)
        for event in generator.events(per_tick):
            event["@timestamp"] = now.isoformat().replace("+00:00", "Z")
            producer.send(
                topics[topic_for(event)],
                key=event["organization"]["id"].encode(),
                value=orjson.dumps(event),
            )
        sent += per_tick
        if time.monotonic() >= next_burst:
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
            producer.flush()
            published_at[user] = time.time()
            next_burst += 1.0
        elapsed = time.monotonic() - started
        target = sent / args.rate
        if target > elapsed:
            time.sleep(target - elapsed)
    producer.flush()
    achieved = sent / (time.monotonic() - started)
    time.sleep(args.lateness + 15)

    es = Elasticsearch(settings.es_url)
    es.indices.refresh(index=settings.detection_index)
    hits = es.search(
        index=settings.detection_index, size=10_000, query={"term": {"rule_id": "auth.brute_force"}}
    )["hits"]["hits"]
    latencies = []
    for hit in hits:
        user = hit["_source"]["group_key"].get("user.id", "")
        if user in published_at:
            detected = datetime.fromisoformat(hit["_source"]["detected_at"]).timestamp()
            latencies.append(detected - published_at[user])
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=60)
    names = list(es.indices.get(index=f"{tag}-*"))
    if names:
        es.indices.delete(index=",".join(names))
    es.close()
    latencies.sort()
    result = {
        "target_rate_events_per_s": args.rate,
        "achieved_rate_events_per_s": round(achieved),
        "lateness_s": args.lateness,
        "bursts": len(published_at),
        "detections": len(latencies),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3)
        if latencies
        else None,
        "p99_minus_lateness_s": round(
            latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] - args.lateness, 3
        )
        if latencies
        else None,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
