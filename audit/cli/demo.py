"""``audit demo``: the main job on a demo stream, start to finish.

Replays benign traffic mixed with every attack scenario (and malformed
messages and redeliveries), runs the ingest consumer and the detector over
it, and prints what was stored, refused, detected and opened as incidents.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import time
from datetime import UTC, datetime, timedelta

from audit.settings import Settings, load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="replay a demo stream, run the service on it, summarise")
    demo.add_argument("--events", type=int, default=20_000, help="benign messages")
    demo.add_argument("--seed", type=int, default=None, help="default: a new one each run")
    demo.add_argument("--malformed", type=float, default=0.01, metavar="RATIO")
    demo.add_argument("--duplicates", type=float, default=0.05, metavar="RATIO")
    demo.add_argument(
        "--scenario",
        action="append",
        default=None,
        help="attack scenarios to mix in (default: all)",
    )
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from audit.logging_setup import configure_logging
    from audit.replay.mix import mixed_stream
    from audit.replay.scenarios import build_many, merge, resolve
    from audit.replay.traffic import TrafficGenerator, TrafficProfile
    from audit.wiring.replay import publish_replay
    from consumers.detect import run as run_detector
    from consumers.ingest import run as run_ingest

    # The demo prints its own summary: only warnings from the service.
    configure_logging(logging.WARNING, libraries=logging.ERROR)
    seed = args.seed if args.seed is not None else int(time.time())
    # The demo replays the past six hours at full speed. A detector that has
    # been live keeps a watermark near the present and rightly counts such
    # old events as late, so each demo run gets its own topics, groups and
    # indices: a backfill, as one would run it in production.
    tag = f"demo{seed}"
    settings = load_settings(
        topic_auth=f"{tag}.audit.auth",
        topic_security=f"{tag}.audit.security",
        topic_dlq=f"{tag}.audit.dlq",
        topic_routed=f"{tag}.detect.routed",
        topic_changelog=f"{tag}.detect.changelog",
        consumer_group=f"{tag}-ingest",
        detector_group=f"{tag}-detect",
        index_prefix=f"{tag}-events",
        detection_index=f"{tag}-detections",
        incident_index=f"{tag}-incidents",
        notification_index=f"{tag}-notifications",
    )
    start = datetime.now(UTC) - timedelta(hours=6)
    profile = TrafficProfile(seed=seed, start=start, duration=timedelta(hours=6))
    stream = mixed_stream(
        TrafficGenerator(profile),
        args.events,
        malformed_ratio=args.malformed,
        duplicate_ratio=args.duplicates,
    )
    scenarios = build_many(
        resolve(args.scenario or ["all"]), start + timedelta(hours=2), seed % 2048
    )
    messages = merge(stream.messages, scenarios)
    publish_replay(settings, messages, detection_topics=True)
    attacks = sum(1 for s in scenarios if not s.near_miss)
    print(
        f"published {len(messages)} messages (seed {seed}): "
        f"{len(stream.unique_event_ids)} benign events, {stream.malformed} malformed, "
        f"{stream.duplicates} redeliveries, {len(scenarios)} attack scenarios "
        f"({attacks} attacks, {len(scenarios) - attacks} near misses)"
    )

    started = time.perf_counter()
    summary = run_ingest(settings, until_idle=3.0)
    print(
        f"ingest: consumed {summary.consumed}, stored {summary.stored}, "
        f"duplicates {summary.duplicates}, dead-lettered {summary.rejected} "
        f"in {time.perf_counter() - started:.1f} s (including 3 s idle wait)"
    )
    started = time.perf_counter()
    written = run_detector(settings, until_idle=3.0)
    print(f"detector: {written} detection writes in {time.perf_counter() - started:.1f} s")
    _print_store(settings, since=start - timedelta(days=30))
    _print_dead_letters(settings)
    print(
        f"\nexplore it: AUDIT_INDEX_PREFIX={tag}-events audit events search --limit 5\n"
        f"            AUDIT_DETECTION_INDEX={tag}-detections audit detections list --json\n"
        f"            AUDIT_INCIDENT_INDEX={tag}-incidents audit incidents list --json"
    )
    print(
        json.dumps(
            {
                "run": tag,
                "stored": summary.stored,
                "duplicates": summary.duplicates,
                "dead_lettered": summary.rejected,
                "detections_written": written,
            }
        )
    )
    return 0


def _print_store(settings: Settings, since: datetime) -> None:
    from audit.wiring.replay import overview

    store = overview(settings, since)
    print(f"\nElasticsearch '{settings.index_prefix}': {store.events} events stored")
    for name, label in (
        ("outcomes", "outcome"),
        ("categories", "data category"),
        ("actions", "action (top 8)"),
    ):
        buckets = ", ".join(f"{key} {count}" for key, count in store.breakdowns[name])
        print(f"  by {label}: {buckets}")
    by_rule = collections.Counter(d["rule_id"] for d in store.detections)
    print(f"\ndetections ({settings.detection_index}): {len(store.detections)}")
    for rule_id, count in sorted(by_rule.items()):
        print(f"  {rule_id:32} {count}")
    print(f"\nincidents ({settings.incident_index}): {len(store.incidents)}")
    for incident in sorted(store.incidents, key=lambda i: i["opened_at"])[-10:]:
        print(
            f"  {incident['id']}  {incident['severity']:8} {incident['status']:8} "
            f"orgs={','.join(incident['organization_ids'])}  "
            f"rules={','.join(incident['rule_ids'])}"
        )


def _print_dead_letters(settings: Settings) -> None:
    from audit.wiring.replay import dead_letters

    reasons: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    for letter in dead_letters(settings):
        kind = letter.headers.get("error.type", "?")
        reasons[kind] += 1
        examples.setdefault(kind, letter.headers.get("error.message", ""))
    print(f"\ndead-letter topic '{settings.topic_dlq}': {sum(reasons.values())} messages")
    for kind, count in reasons.most_common():
        print(f"  {kind:14} {count:6}  e.g. {examples[kind]}")
