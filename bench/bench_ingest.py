"""Ingest throughput on the local stack, with its baselines measured in the same run.

    .venv/bin/python bench/bench_ingest.py [--events 200000]

Needs a running stack (``audit stack up``, or AUDIT_KAFKA_BOOTSTRAP /
AUDIT_ES_URL). Publishes N events to fresh topics, then measures:
  (a) raw consumption: kafka-python reading every message, no processing;
  (b) raw bulk indexing: the same documents bulk-created into a fresh index;
  (c) the full pipeline: the ingest consumer (validate, normalize, store
      once, commit) over the same topics with a fresh group;
  (d) validate+normalize alone, on one core.
Reports events/s and the ratio c / min(a, b).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from elasticsearch import Elasticsearch
from kafka import KafkaConsumer

from audit.adapters.kafka.publisher import publish
from audit.adapters.kafka.topics import ensure_topics
from audit.domain.event import normalize_message
from audit.replay.mix import mixed_stream
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from audit.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:8]
    os.environ.update(
        {
            "AUDIT_TOPIC_AUTH": f"bench{tag}.auth",
            "AUDIT_TOPIC_SECURITY": f"bench{tag}.security",
            "AUDIT_TOPIC_DLQ": f"bench{tag}.dlq",
            "AUDIT_CONSUMER_GROUP": f"bench{tag}",
            "AUDIT_INDEX_PREFIX": f"bench{tag}-events",
            "AUDIT_METRICS_PORT": "0",
            "AUDIT_BATCH_MAX_RECORDS": str(args.batch),
        }
    )
    settings = load_settings()
    profile = TrafficProfile(
        organizations=50,
        users_per_organization=40,
        seed=99,
        start=datetime.now(UTC) - timedelta(hours=12),
        duration=timedelta(hours=12),
    )
    stream = mixed_stream(TrafficGenerator(profile), args.events)
    values = [m.value for m in stream.messages]
    ensure_topics(
        settings,
        {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
    )
    t0 = time.perf_counter()
    publish(settings, stream.messages)
    publish_s = time.perf_counter() - t0

    # (d) validate + normalize, one core
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    docs = [normalize_message(v, received_at=now) for v in values]
    validate_rate = len(values) / (time.perf_counter() - t0)

    # (a) raw consumption
    consumer = KafkaConsumer(
        settings.topic_auth,
        settings.topic_security,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"bench{tag}-raw",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=args.batch,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    seen = 0
    t0 = None
    while seen < len(values):
        for records in consumer.poll(timeout_ms=1000).values():
            if t0 is None:
                t0 = time.perf_counter()
            seen += len(records)
    assert t0 is not None
    raw_consume_rate = seen / (time.perf_counter() - t0)
    consumer.close()

    # (b) raw bulk indexing of the same documents
    es = Elasticsearch(settings.es_url, request_timeout=60)
    raw_index = f"bench{tag}-raw-events-standard-2026.01.01"
    from audit.adapters.elasticsearch.event_store import load_mapping

    body = load_mapping("audit-events")
    es.indices.create(
        index=raw_index,
        settings=body["template"]["settings"],
        mappings=body["template"]["mappings"],
    )
    t0 = time.perf_counter()
    for i in range(0, len(docs), args.batch):
        lines = []
        for d in docs[i : i + args.batch]:
            lines.append(orjson.dumps({"create": {"_index": raw_index, "_id": d.event_id}}))
            lines.append(orjson.dumps(d.document))
        es.perform_request(
            "POST",
            "/_bulk",
            body=b"\n".join(lines) + b"\n",
            headers={"content-type": "application/x-ndjson", "accept": "application/json"},
            params={"filter_path": "errors"},
        )
    raw_bulk_rate = len(docs) / (time.perf_counter() - t0)

    # (c) the full pipeline, with the hash chain on and (e) off, each with a
    # fresh consumer group and index prefix over the same topics.
    from consumers.ingest import run

    def pipeline(integrity: bool, label: str) -> float:
        run_settings = load_settings(
            consumer_group=f"bench{tag}-{label}", index_prefix=f"bench{tag}-{label}-events",
            integrity_enabled=integrity,
        )
        idle = 2.0
        t0 = time.perf_counter()
        summary = run(run_settings, until_idle=idle)
        elapsed = time.perf_counter() - t0 - idle
        assert summary.stored == len(stream.unique_event_ids), summary
        return summary.consumed / elapsed

    pipeline_rate = pipeline(True, "chained")
    unchained_rate = pipeline(False, "unchained")

    names = list(es.indices.get(index=f"bench{tag}-*"))
    if names:
        es.indices.delete(index=",".join(names))
    es.close()

    result = {
        "events": len(values),
        "publish_events_per_s": round(len(values) / publish_s),
        "a_raw_consume_events_per_s": round(raw_consume_rate),
        "b_raw_bulk_events_per_s": round(raw_bulk_rate),
        "c_pipeline_events_per_s": round(pipeline_rate),
        "ratio_c_over_min_ab": round(pipeline_rate / min(raw_consume_rate, raw_bulk_rate), 3),
        "d_validate_normalize_events_per_s_one_core": round(validate_rate),
        "e_pipeline_without_integrity_events_per_s": round(unchained_rate),
        "ratio_integrity_on_over_off": round(pipeline_rate / unchained_rate, 3),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
