"""Ingest throughput on the local stack, with its baselines measured in the same run.

    .venv/bin/python bench/bench_ingest.py [--events 200000] [--repeat K]
        [--profile out.prof] [--sample out.raw] [--processes 2]

Needs a running stack (``audit stack up``, or AUDIT_KAFKA_BOOTSTRAP /
AUDIT_ES_URL). Publishes N events to fresh topics, then measures:
  (a) raw consumption: the ingest's Kafka client (librdkafka) reading every
      message, no processing;
  (b) raw bulk indexing: the same documents bulk-created into a fresh index;
  (c) the full pipeline: the ingest consumer (validate, normalize, route,
      chain, store once, feed detection, commit) over the same topics with
      a fresh group, and (e) the same with the hash chain off;
  (d) validate+normalize alone, events per CPU-second of this process.

How each is timed, so that the ratios compare like with like:
  (a) from the first poll that returned records to the last record read;
  (b) from the first bulk request to the last answer;
  (c), (e) from the first batch consumed (the loop observes
      ``audit_batch_size`` right after the poll that returned it) to the
      commit of the last batch (the loop sets
      ``audit_last_commit_timestamp_seconds`` right after each commit),
      both seen through the metrics recorder the process is built with.
      Building the process, ``prepare()`` (topics, templates), joining the
      fresh consumer group and the idle wait at the end are outside the
      interval, as they are outside (a).
The consumer's CPU per event is the process CPU (``time.process_time``: all
threads, consumer, bulk worker, Kafka I/O) over that same interval, divided
by the events consumed.

Beside each of (b), (c) and (e), where the machine's CPU went, since the
node, the broker and the consumer share its cores: ``busy cores`` (from
``/proc/stat``, every process on the machine, over the same interval as the
rate) and the node's CPU per event (``_nodes/stats`` process CPU; for (c)
and (e) over the whole consumer run, its idle wait included, which adds a
few hundredths of a core-second). Together with the consumer's CPU per
event they say how far the pipeline's rate can rise on these cores.

``--repeat K`` runs K rounds of (a), (b), then (c) and (e) alternately
(c first in even rounds, e first in odd ones), each with fresh groups and
indices, and reports each figure's median and best (highest rate, lowest
CPU) along with every round's values: this 2-core machine is shared and
noisy. The ratios are computed per round (same moment) and their median
and best reported.

With ``--profile`` one more chained run is profiled (cProfile, per-thread
CPU clock, the consumer thread and the bulk worker thread) and a per-stage
table of CPU µs per event is printed. cProfile's cost per call inflates
call-heavy stages 4-5x; ``--sample`` instead attaches py-spy to one more
chained run (``py-spy record --gil``: the thread holding the GIL, 200 times
a second; needs the right to ptrace this process) and prints each stage's
share of the samples, in µs per event of the rounds' median (c) CPU (see
``ingest_stages.py``). With ``--processes N`` (N > 1), the
same pipeline also runs as ``audit consume --processes N`` (N group
members; timed from the process start, as a whole, minus the idle wait).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from confluent_kafka import Consumer
from elasticsearch import Elasticsearch
from ingest_stages import table as stage_table

from audit.adapters.kafka.publisher import publish
from audit.adapters.kafka.topics import ensure_topics
from audit.adapters.metrics import PrometheusMetrics
from audit.domain.event import normalize_message
from audit.replay.mix import mixed_stream
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from audit.services.ingest import IngestCounts
from audit.settings import Settings, load_settings
from audit.wiring.collector import tune_collector
from audit.wiring.ingest import build_ingest

T = TypeVar("T")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1, metavar="K", help="rounds of a, b, c, e")
    parser.add_argument("--profile", default=None, metavar="PATH", help="profile the chained run")
    parser.add_argument(
        "--sample", default=None, metavar="PATH", help="py-spy the chained run (GIL holder)"
    )
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
    profile = TrafficProfile.benchmark(datetime.now(UTC))
    stream = mixed_stream(TrafficGenerator(profile), args.events)
    values = [m.value for m in stream.messages]
    expected = len(stream.unique_event_ids)
    ensure_topics(
        settings,
        {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
    )
    t0 = time.perf_counter()
    publish(settings, stream.messages)
    publish_s = time.perf_counter() - t0

    # The collector set up as the consumer's entry points set it up.
    tune_collector()
    # (d) validate + normalize: this process's CPU, in batches of the size
    # the consumer reads, each batch's documents dropped once (b)'s bodies
    # are taken from them, as a consumer holds one batch at a time.
    now = datetime.now(UTC)
    bodies: list[tuple[str, bytes]] = []
    validate_cpu = 0.0
    for start in range(0, len(values), args.batch):
        t0 = time.process_time()
        docs = [normalize_message(v, received_at=now) for v in values[start : start + args.batch]]
        validate_cpu += time.process_time() - t0
        bodies.extend((d.event_id, orjson.dumps(d.document)) for d in docs)
    validate_rate = len(values) / validate_cpu
    # (b) needs only each document's id and bytes; the stream and the
    # message list are dropped, so that the pipeline runs in a heap like a
    # real consumer's (the collector would otherwise walk millions of
    # objects the bench holds).
    count = len(values)
    del docs, values, stream
    tune_collector()

    es = Elasticsearch(settings.es_url, request_timeout=60)
    rounds: list[dict[str, float]] = []
    for n in range(args.repeat):
        figures: dict[str, float] = {}
        figures["a"] = raw_consume(settings, f"bench{tag}-raw{n}", count, args.batch)
        bulk = raw_bulk(es, f"bench{tag}-raw{n}-events-standard-2026.01.01", bodies, args.batch)
        figures["b"] = bulk.rate
        figures["b_node_cpu"] = bulk.node_cpu_us_per_event
        figures["b_busy_cores"] = bulk.busy_cores
        order = [(True, "c"), (False, "e")]
        for integrity, key in order if n % 2 == 0 else reversed(order):
            label = f"{'chained' if integrity else 'unchained'}{n}"
            run_settings = pipeline_settings(tag, label, integrity)
            measured = run_measured(run_settings, 2.0, None, es)
            assert measured.counts.stored == expected, measured.counts
            figures[key] = measured.rate
            figures[f"{key}_cpu"] = measured.cpu_us_per_event
            figures[f"{key}_node_cpu"] = measured.node_cpu_us_per_event
            figures[f"{key}_busy_cores"] = measured.busy_cores
            drop_indices(es, f"bench{tag}-{label}-*")
        figures["c_over_min_ab"] = figures["c"] / min(figures["a"], figures["b"])
        figures["c_over_e"] = figures["c"] / figures["e"]
        rounds.append(figures)
        print(json.dumps({"round": n, **{k: round(v, 3) for k, v in figures.items()}}))
    if args.profile:
        # A run of its own: the profiler's overhead must not touch the ratios.
        measured = run_measured(pipeline_settings(tag, "profiled", True), 2.0, args.profile, es)
        assert measured.counts.stored == expected, measured.counts
    if args.sample:
        measured = run_measured(pipeline_settings(tag, "sampled", True), 2.0, None, es, args.sample)
        assert measured.counts.stored == expected, measured.counts
        cpu = statistics.median(r["c_cpu"] for r in rounds)
        print(f"\nstages of the sampled run ({args.sample}), in µs of the rounds' (c) CPU:")
        print(stage_table(args.sample, cpu))
    members: dict[str, float] = {}
    if args.processes > 1:
        try:
            members = run_members(tag, args.processes, expected, es)
        except (subprocess.CalledProcessError, AssertionError) as err:
            print(f"--processes {args.processes} failed: {err!r}", file=sys.stderr)

    drop_indices(es, f"bench{tag}-*")
    es.close()

    def summary(key: str, higher_is_better: bool = True) -> dict[str, float | list[float]]:
        values = [r[key] for r in rounds]
        best = max(values) if higher_is_better else min(values)
        digits = 3 if key.startswith(("c_over", "ratio")) else 1
        return {
            "median": round(statistics.median(values), digits),
            "best": round(best, digits),
            "rounds": [round(v, digits) for v in values],
        }

    result = {
        "events": count,
        "repeat": args.repeat,
        "publish_events_per_s": round(count / publish_s),
        "d_validate_normalize_events_per_cpu_second": round(validate_rate),
        "a_raw_consume_events_per_s": summary("a"),
        "b_raw_bulk_events_per_s": summary("b"),
        "c_pipeline_events_per_s": summary("c"),
        "e_pipeline_without_integrity_events_per_s": summary("e"),
        "ratio_c_over_min_ab": summary("c_over_min_ab"),
        "ratio_integrity_on_over_off": summary("c_over_e"),
        "c_consumer_cpu_us_per_event": summary("c_cpu", higher_is_better=False),
        "e_consumer_cpu_us_per_event": summary("e_cpu", higher_is_better=False),
        "b_node_cpu_us_per_event": summary("b_node_cpu", higher_is_better=False),
        "c_node_cpu_us_per_event": summary("c_node_cpu", higher_is_better=False),
        "e_node_cpu_us_per_event": summary("e_node_cpu", higher_is_better=False),
        "b_busy_cores": summary("b_busy_cores"),
        "c_busy_cores": summary("c_busy_cores"),
        "e_busy_cores": summary("e_busy_cores"),
        **members,
    }
    print(json.dumps(result, indent=2))


def pipeline_settings(tag: str, label: str, integrity: bool) -> Settings:
    """A fresh consumer group and index prefix over the bench's topics."""
    return load_settings(
        consumer_group=f"bench{tag}-{label}",
        index_prefix=f"bench{tag}-{label}-events",
        integrity_enabled=integrity,
    )


def drop_indices(es: Elasticsearch, pattern: str) -> None:
    names = list(es.indices.get(index=pattern, ignore_unavailable=True, allow_no_indices=True))
    if names:
        es.indices.delete(index=",".join(names))


def raw_consume(settings: Settings, group: str, total: int, batch: int) -> float:
    """(a) events/s of the ingest's Kafka client alone (librdkafka through
    confluent-kafka, as :class:`KafkaBatchSource` configures it), every
    message's value touched, from the first poll that returned records."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.max.bytes": 16 * 1024 * 1024,
            "max.partition.fetch.bytes": 4 * 1024 * 1024,
        }
    )
    consumer.subscribe([settings.topic_auth, settings.topic_security])
    seen = 0
    t0 = None
    while seen < total:
        messages = consumer.consume(batch, 1.0)
        if messages and t0 is None:
            t0 = time.perf_counter()
        for message in messages:
            if message.error() is None and message.value() is not None:
                seen += 1
    assert t0 is not None
    rate = seen / (time.perf_counter() - t0)
    consumer.close()
    return rate


def raw_bulk(es: Elasticsearch, index: str, docs: list[tuple[str, bytes]], batch: int) -> RawBulk:
    """(b) bulk-creating the documents (id, serialized source) into a fresh
    index, nothing else: events/s, the node's CPU per event, busy cores."""
    from audit.adapters.elasticsearch.event_store import load_mapping

    body = load_mapping("audit-events")
    es.indices.create(
        index=index,
        settings=body["template"]["settings"],
        mappings=body["template"]["mappings"],
    )
    node, ticks, t0 = node_cpu_seconds(es), machine_ticks(), time.perf_counter()
    bulk_create(es, index, docs, batch)
    rate = len(docs) / (time.perf_counter() - t0)
    busy = busy_cores(ticks, machine_ticks())
    node = node_cpu_seconds(es) - node
    es.indices.delete(index=index)
    return RawBulk(rate, node / len(docs) * 1e6, busy)


@dataclass
class RawBulk:
    rate: float  # events per second
    node_cpu_us_per_event: float  # Elasticsearch's CPU
    busy_cores: float  # every process on the machine


def node_cpu_seconds(es: Elasticsearch) -> float:
    """The Elasticsearch nodes' process CPU so far, in seconds."""
    stats = es.nodes.stats(metric="process")["nodes"]
    return float(sum(node["process"]["cpu"]["total_in_millis"] for node in stats.values())) / 1000


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (``/proc/stat``)."""
    with open("/proc/stat", "rb") as stat:
        ticks = [int(n) for n in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float:
    """How many of the machine's cores were busy between two ``machine_ticks``."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total * (os.cpu_count() or 1) if total else 0.0


def bulk_create(es: Elasticsearch, index: str, docs: list[tuple[str, bytes]], batch: int) -> None:
    """Bulk-create the documents (id, serialized source), ``batch`` per request."""
    for i in range(0, len(docs), batch):
        lines = []
        for event_id, source in docs[i : i + batch]:
            lines.append(orjson.dumps({"create": {"_index": index, "_id": event_id}}))
            lines.append(source)
        answer = es.perform_request(
            "POST",
            "/_bulk",
            body=b"\n".join(lines) + b"\n",
            headers={"content-type": "application/x-ndjson", "accept": "application/json"},
            params={"filter_path": "errors"},
        )
        if answer.body.get("errors") is not False:
            raise SystemExit(f"bulk into {index} refused documents")


class IntervalMetrics(PrometheusMetrics):
    """The process's own metrics recorder, noting when (wall and process CPU)
    the first batch was observed and the last batch committed."""

    def __init__(self) -> None:
        super().__init__()
        self.first: tuple[float, float, tuple[int, int]] | None = None
        self.last: tuple[float, float, tuple[int, int]] | None = None

    def observe(self, name: str, value: float, **labels: str) -> None:
        if name == "audit_batch_size" and self.first is None:
            self.first = (time.perf_counter(), time.process_time(), machine_ticks())
        super().observe(name, value, **labels)

    def set(self, name: str, value: float, **labels: str) -> None:
        super().set(name, value, **labels)
        if name == "audit_last_commit_timestamp_seconds":
            self.last = (time.perf_counter(), time.process_time(), machine_ticks())


@dataclass
class Measured:
    counts: IngestCounts
    rate: float  # events consumed per second, first batch to last commit
    cpu_us_per_event: float  # process CPU over the same interval
    busy_cores: float  # the whole machine's, over the same interval
    node_cpu_us_per_event: float  # Elasticsearch's, over the whole run (idle wait included)


def run_measured(
    settings: Settings,
    idle: float,
    profile: str | None,
    es: Elasticsearch,
    sample: str | None = None,
) -> Measured:
    """Run one consumer in this process until idle; its counts, rate and CPU
    per event, and the machine's and the node's CPU meanwhile. ``sample``:
    py-spy's samples of the run's GIL holder go to this file."""
    metrics = IntervalMetrics()
    process = build_ingest(settings, metrics)
    consumer = None
    threads: list[cProfile.Profile] = []  # the writer's and the duplicate check's
    try:
        process.prepare()
        if profile is not None:
            # thread_time: each profiler counts the CPU of its own thread only.
            consumer = cProfile.Profile(time.thread_time)
            pipeline = process.pipeline
            pipeline.first_attempt = _profiled(pipeline.first_attempt, threads)  # type: ignore[method-assign]
            pipeline.check_duplicates = _profiled(pipeline.check_duplicates, threads)  # type: ignore[method-assign]
            consumer.enable()
        sampler = _start_sampler(sample) if sample is not None else None
        try:
            node = node_cpu_seconds(es)
            counts = process.run(idle)
            node = node_cpu_seconds(es) - node
        finally:
            if sampler is not None:
                sampler.send_signal(signal.SIGINT)  # py-spy writes its file and exits
                sampler.wait(120)
        if consumer is not None:
            consumer.disable()
    finally:
        process.close()
    assert metrics.first is not None and metrics.last is not None
    wall = metrics.last[0] - metrics.first[0]
    cpu = metrics.last[1] - metrics.first[1]
    if profile is not None and consumer is not None:
        stats = pstats.Stats(consumer)
        for other in threads:
            stats.add(other)
        stats.dump_stats(profile)
        print_stages(stats, counts.consumed, cpu)
    return Measured(
        counts,
        counts.consumed / wall,
        cpu / counts.consumed * 1e6,
        busy_cores(metrics.first[2], metrics.last[2]),
        node / counts.consumed * 1e6,
    )


def _start_sampler(path: str) -> subprocess.Popen[bytes]:
    """py-spy attached to this process, sampling whichever thread holds the GIL."""
    py_spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    command = [py_spy, "record", "--gil", "--rate", "200", "--format", "raw"]
    sampler = subprocess.Popen(
        [*command, "--pid", str(os.getpid()), "--output", path],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached before the first batch
    if sampler.poll() is not None:
        raise SystemExit(f"py-spy could not attach (exit {sampler.returncode}): needs ptrace")
    return sampler


def _profiled(method: Callable[..., T], profiles: list[cProfile.Profile]) -> Callable[..., T]:
    """``method`` profiled on the thread that calls it (its own profiler)."""
    profiler = cProfile.Profile(time.thread_time)
    profiles.append(profiler)

    def profiled(*args: Any, **kwargs: Any) -> T:
        profiler.enable()
        try:
            return method(*args, **kwargs)
        finally:
            profiler.disable()

    return profiled


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
    # The pipeline seals through ``seal_encoded`` (``seal`` before it existed).
    seal = max(
        _cum(stats, "chain_keeper.py", "seal"), _cum(stats, "chain_keeper.py", "seal_encoded")
    )
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
