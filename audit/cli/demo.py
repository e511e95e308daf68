"""``audit demo``: replay a demo stream through the consumer and summarise."""

from __future__ import annotations

import argparse
import collections
import json
import logging
import time
from datetime import UTC, datetime, timedelta

from audit.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="replay a demo stream, consume it, print a summary")
    demo.add_argument("--events", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=None, help="default: a new one each run")
    demo.add_argument("--malformed", type=float, default=0.01, metavar="RATIO")
    demo.add_argument("--duplicates", type=float, default=0.05, metavar="RATIO")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from audit.adapters.elasticsearch.client import build_client
    from audit.adapters.kafka.dead_letter_reader import read_dead_letters
    from audit.adapters.kafka.publisher import publish
    from audit.adapters.kafka.topics import ensure_topics
    from audit.replay.mix import mixed_stream
    from audit.replay.traffic import TrafficGenerator, TrafficProfile
    from consumers.ingest import run

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    settings = load_settings()
    seed = args.seed if args.seed is not None else int(time.time())
    profile = TrafficProfile(
        seed=seed, start=datetime.now(UTC) - timedelta(hours=6), duration=timedelta(hours=6)
    )
    stream = mixed_stream(
        TrafficGenerator(profile),
        args.events,
        malformed_ratio=args.malformed,
        duplicate_ratio=args.duplicates,
    )
    ensure_topics(
        settings,
        {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
    )
    publish(settings, stream.messages)
    print(
        f"published {len(stream.messages)} messages (seed {seed}): "
        f"{len(stream.unique_event_ids)} distinct valid events, {stream.malformed} malformed, "
        f"{stream.duplicates} redeliveries"
    )
    started = time.perf_counter()
    summary = run(settings, until_idle=3.0)
    elapsed = time.perf_counter() - started
    print(
        f"consumer: consumed {summary.consumed}, stored {summary.stored}, "
        f"duplicates {summary.duplicates}, dead-lettered {summary.rejected} "
        f"in {elapsed:.1f} s (including 3 s idle wait)"
    )

    es = build_client(settings)
    try:
        es.indices.refresh(index=settings.index_prefix)
        aggs = es.search(
            index=settings.index_prefix,
            size=0,
            aggs={
                "actions": {"terms": {"field": "event.action", "size": 8}},
                "categories": {"terms": {"field": "elastra.data_category", "size": 10}},
                "outcomes": {"terms": {"field": "event.outcome"}},
            },
            track_total_hits=True,
        )
    finally:
        es.close()
    print(
        f"\nElasticsearch '{settings.index_prefix}': {aggs['hits']['total']['value']} events stored"
    )
    for name, label in (
        ("outcomes", "outcome"),
        ("categories", "data category"),
        ("actions", "action (top 8)"),
    ):
        buckets = ", ".join(
            f"{b['key']} {b['doc_count']}" for b in aggs["aggregations"][name]["buckets"]
        )
        print(f"  by {label}: {buckets}")

    reasons: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    for letter in read_dead_letters(settings):
        kind = letter.headers.get("error.type", "?")
        reasons[kind] += 1
        examples.setdefault(kind, letter.headers.get("error.message", ""))
    print(f"\ndead-letter topic '{settings.topic_dlq}': {sum(reasons.values())} messages")
    for kind, count in reasons.most_common():
        print(f"  {kind:14} {count:6}  e.g. {examples[kind]}")
    print(
        "\n"
        + json.dumps(
            {
                "stored_now": summary.stored,
                "duplicates_now": summary.duplicates,
                "dead_lettered_now": summary.rejected,
            }
        )
    )
    return 0
