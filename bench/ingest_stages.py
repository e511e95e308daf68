"""The ingest consumer's CPU by stage, from a py-spy sample of the GIL holder.

    .venv/bin/python bench/ingest_stages.py samples.raw [CPU_US_PER_EVENT]

``samples.raw`` is what ``py-spy record --gil --format raw`` writes (one
line per distinct stack, with its count); ``bench_ingest.py --sample PATH``
records one over a chained pipeline run. Only the thread holding the GIL is
sampled, so the shares are of the Python work of every thread of the
consumer (its loop, the bulk writer, the duplicate check), the one resource
those threads share. With the consumer's CPU per event (from an unsampled
run), each share is also given in microseconds per event; the CPU of
librdkafka's own threads, which never take the GIL, is in that figure but
in no stage, so those microseconds lean high.

A sample is charged to the innermost frame that names a stage: a bulk
request's socket read counts as the client even though the writer called
it, and ``orjson`` (C, no frame of its own) counts where it was called.
Unlike cProfile, sampling adds no cost per call, so call-heavy stages are
not inflated.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable

REST = "rest: the loop, threads handing over, other"

# In the order of the table; each stage's frame markers (a frame is
# ``function (path:line)``). The code (kafka-python, one record per
# routed event) is recognized too, so that before and after share a table.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "poll: Kafka fetch and record decoding",
        ("poll_batch", "_inbound", "kafka/consumer", "kafka/record", "kafka/protocol"),
    ),
    (
        "validate + normalize",
        ("normalize_message", "_validate", "_normalize", "_plain_keys", "_expand", "pydantic"),
    ),
    ("index choice (retention class, day)", ("_index_of", "retention_classes.py")),
    (
        "routing to detection",
        ("routing.py", "RestrictingRouter", "restricted_subjects.py", "predicates.py"),
    ),
    (
        "detection feed: records to Kafka messages",
        ("array_json", "_wire", "detection_feed.py", "DeliveryReports", "kafka/producer"),
    ),
    ("chain: duplicate check", ("check_duplicates", "existing_ids", "stored_ids")),
    (
        "chain: hash and link",
        ("chain_keeper.py", "extend_canonical", "hashed_canonical", "canonical.py", "chain.py"),
    ),
    ("bulk body (serialization)", ("bulk_create",)),
    (
        "client: bulk request and answer",
        ("urllib3/", "http/client", "elastic_transport/", "socket.py"),
    ),
    ("commit offsets", ("KafkaBatchSource.commit", "ConsumerCoordinator.commit")),
    ("progress markers", ("_publish_progress",)),
)
# Charged before the innermost match: everything a producer's own thread does.
_WHOLE_STACK = (("kafka/producer", "detection feed: records to Kafka messages"),)
# Innermost first, a more specific marker wins over a broader one below it:
# the client's socket read before the bulk body that called it.
_PRIORITY = (
    "commit offsets",
    "progress markers",
    "client: bulk request and answer",
    "chain: duplicate check",
    "chain: hash and link",
    "bulk body (serialization)",
    "detection feed: records to Kafka messages",
    "routing to detection",
    "index choice (retention class, day)",
    "validate + normalize",
    "poll: Kafka fetch and record decoding",
)
_MARKERS = dict(STAGES)


def stage_of(frames: list[str]) -> str:
    for marker, stage in _WHOLE_STACK:
        if any(marker in frame for frame in frames):
            return stage
    for frame in reversed(frames):
        for stage in _PRIORITY:
            if any(marker in frame for marker in _MARKERS[stage]):
                return stage
    return REST


def shares(lines: Iterable[str]) -> tuple[dict[str, float], int]:
    """Each stage's share of the samples, and how many samples there were."""
    counts: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        counts[stage_of(stack.split(";"))] += int(count)
    total = sum(counts.values())
    names = [name for name, _ in STAGES] + [REST]
    return {name: counts[name] / total if total else 0.0 for name in names}, total


def table(path: str, cpu_us_per_event: float | None) -> str:
    with open(path, encoding="utf-8") as handle:
        by_stage, total = shares(handle)
    rows = ["| stage | share of GIL-held samples | CPU µs/event |", "|---|---|---|"]
    for name, share in by_stage.items():
        micros = f"{share * cpu_us_per_event:.1f}" if cpu_us_per_event else "-"
        rows.append(f"| {name} | {share:.1%} | {micros} |")
    shown = f"{cpu_us_per_event:.1f}" if cpu_us_per_event else "-"
    rows.append(f"| ({total:,} samples) | | {shown} |")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    print(table(sys.argv[1], float(sys.argv[2]) if len(sys.argv) == 3 else None))
