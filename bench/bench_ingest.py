"""Ingest throughput on the local stack, with its baselines measured in the same run.

    .venv/bin/python bench/bench_ingest.py [--events 200000] [--profile out.prof]
        [--processes 2]

Needs a running stack (``audit stack up``, or AUDIT_KAFKA_BOOTSTRAP /
AUDIT_ES_URL). Publishes N events to fresh topics, then measures:
  (a) raw consumption: kafka-python reading every message, no processing;
  (b) raw bulk indexing: the same documents bulk-created into a fresh index;
  (c) the full pipeline: the ingest consumer (validate, normalize, store
      once, commit) over the same topics with a fresh group;
  (d) validate+normalize alone, on one core.
Reports events/s, the ratio c / min(a, b), and the consumer's process CPU
per event (all threads: ``time.process_time``) next to each pipeline rate.
With ``--profile`` a third, chained run is profiled (cProfile, per-thread CPU
clock, the consumer thread and the bulk worker thread) and a per-stage
table of CPU µs per event is printed; with ``--processes N`` (N > 1), the
same pipeline also runs as ``audit consume --processes N`` (N group members).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from elasticsearch import Elasticsearch
from kafka import KafkaConsumer

from audit.adapters.kafka.publisher import publish
from audit.adapters.kafka.topics import ensure_topics
from audit.domain.event import normalize_message
from audit.errors import StoreUnavailable
from audit.replay.mix import mixed_stream
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from audit.services.ingest import IngestCounts, PreparedBatch
from audit.services.ports.ingest import BulkOutcome
from audit.settings import Settings, load_settings
from audit.wiring.ingest import build_ingest
from consumers.ingest import run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--profile", default=None, metavar="PATH", help="profile the chained run")
    parser.add_argument("--processes", type=int, default=1, help="also measure N members")
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
    def pipeline(integrity: bool, label: str, profile: str | None = None) -> tuple[float, float]:
        run_settings = load_settings(
            consumer_group=f"bench{tag}-{label}",
            index_prefix=f"bench{tag}-{label}-events",
            integrity_enabled=integrity,
        )
        idle = 2.0
        t0 = time.perf_counter()
        counts, cpu = run_measured(run_settings, idle, profile)
        elapsed = time.perf_counter() - t0 - idle
        assert counts.stored == len(stream.unique_event_ids), counts
        return counts.consumed / elapsed, cpu / counts.consumed * 1e6

    pipeline_rate, pipeline_cpu = pipeline(True, "chained")
    unchained_rate, unchained_cpu = pipeline(False, "unchained")
    if args.profile:
        # A run of its own: the profiler's overhead must not touch the ratios.
        pipeline(True, "profiled", args.profile)
    members: dict[str, float] = {}
    if args.processes > 1:
        try:
            members = run_members(tag, args.processes, len(stream.unique_event_ids), es)
        except (subprocess.CalledProcessError, AssertionError) as err:
            print(f"--processes {args.processes} failed: {err!r}", file=sys.stderr)

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
        "c_consumer_cpu_us_per_event": round(pipeline_cpu, 1),
        "e_consumer_cpu_us_per_event": round(unchained_cpu, 1),
        **members,
    }
    print(json.dumps(result, indent=2))


def run_measured(
    settings: Settings, idle: float, profile: str | None
) -> tuple[IngestCounts, float]:
    """Run one consumer in this process until idle; its counts and process CPU seconds."""
    if profile is None:
        cpu0 = time.process_time()
        counts = run(settings, until_idle=idle)
        return counts, time.process_time() - cpu0
    process = build_ingest(settings)
    process.prepare()
    # thread_time: each profiler counts the CPU of its own thread only.
    consumer = cProfile.Profile(time.thread_time)
    worker = cProfile.Profile(time.thread_time)
    first_attempt = process.pipeline.first_attempt

    def profiled(prepared: PreparedBatch) -> BulkOutcome | StoreUnavailable:
        worker.enable()
        try:
            return first_attempt(prepared)
        finally:
            worker.disable()

    process.pipeline.first_attempt = profiled  # type: ignore[method-assign]
    cpu0 = time.process_time()
    try:
        consumer.enable()
        counts = process.run(idle)
        consumer.disable()
        cpu = time.process_time() - cpu0
    finally:
        process.close()
    stats = pstats.Stats(consumer)
    stats.add(worker)
    stats.dump_stats(profile)
    print_stages(stats, counts.consumed, cpu)
    return counts, cpu


def _cum(stats: pstats.Stats, file_suffix: str, name: str, caller: str | None = None) -> float:
    """Cumulative seconds in ``name`` (defined in a file ending ``file_suffix``);
    with ``caller``, only what was called from that function."""
    total = 0.0
    for (file, _, func), (_, _, _, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if func != name or not file.endswith(file_suffix):
            continue
        if caller is None:
            total += ct
        else:
            total += sum(v[3] for (_, _, f), v in callers.items() if f == caller)
    return total


def print_stages(stats: pstats.Stats, events: int, process_cpu: float) -> None:
    """Per-stage CPU µs per event, from the profile of both threads."""
    loads = _cum(stats, "", "<orjson.loads>", "normalize_message")
    normalize = _cum(stats, "audit/domain/event.py", "normalize_message")
    existing = _cum(stats, "event_store.py", "existing_ids")
    heads = _cum(stats, "event_store.py", "latest_heads") + _cum(stats, "event_store.py", "refresh")
    seal = _cum(stats, "chain_keeper.py", "seal")
    bulk = _cum(stats, "event_store.py", "bulk_create")
    client = _cum(stats, "", "perform_request", "bulk_create")
    route = _cum(stats, "routing.py", "route")
    feed = _cum(stats, "detection_feed.py", "publish")
    rows = [
        ("poll: Kafka fetch and record decoding", _cum(stats, "batch_source.py", "poll_batch")),
        ("decode: JSON parse of the message", loads),
        ("validate + normalize", normalize - loads),
        ("index choice (retention class, day)", _cum(stats, "services/ingest.py", "_index_of")),
        ("routing to detection", route),
        ("detection feed: records to Kafka messages", feed),
        ("chain: duplicate check (mget)", existing),
        ("chain: head recovery", heads),
        ("chain: hash and link", seal - existing - heads),
        ("bulk body (serialization)", bulk - client),
        ("client: bulk request and answer", client),
        ("commit offsets", _cum(stats, "batch_source.py", "commit")),
        ("progress markers", _cum(stats, "ingest_loop.py", "_publish_progress")),
    ]
    profiled = stats.total_tt  # type: ignore[attr-defined]
    rows.append(("rest of the two threads", profiled - sum(v for _, v in rows)))
    rows.append(("other threads (Kafka I/O, metrics)", process_cpu - profiled))
    print("| stage | CPU µs/event |\n|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds / events * 1e6:.1f} |")
    print(f"| **process CPU, all threads** | **{process_cpu / events * 1e6:.1f}** |")


def run_members(tag: str, processes: int, expected: int, es: Elasticsearch) -> dict[str, float]:
    """``audit consume --processes N`` as a child process: events/s and CPU µs per event."""
    label = f"p{processes}"
    env = {
        **os.environ,
        "AUDIT_CONSUMER_GROUP": f"bench{tag}-{label}",
        "AUDIT_INDEX_PREFIX": f"bench{tag}-{label}-events",
    }
    idle = 4.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "audit.cli.main", "consume", "--processes", str(processes),
         "--until-idle", str(idle), "--json"],
        env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    elapsed = time.perf_counter() - t0 - idle
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    es.indices.refresh(index=f"bench{tag}-{label}-events")
    stored = int(es.count(index=f"bench{tag}-{label}-events")["count"])
    assert stored == expected, (stored, expected)
    return {
        f"{label}_pipeline_events_per_s": round(stored / elapsed),
        f"{label}_cpu_us_per_event_all_members": round(cpu / stored * 1e6, 1),
    }


if __name__ == "__main__":
    main()
