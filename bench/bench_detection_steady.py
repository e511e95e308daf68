"""The detector's work per write-out as its windows fill (issue 12).

    .venv/bin/python bench/bench_detection_steady.py [--seconds 180] [--rate 5000]
        [--turn 2500] [--jitter 1.0] [--state-seconds 5] [--cost-share 0.2] [--whole]

No servers. ``bench_detection.py``'s traffic (2,000 users of 50
organizations, each with one session) is re-timed to ``--rate`` events per
second of event time, each event up to ``--jitter`` seconds early (events of
one key then arrive out of order, as they do from several producers), and
routed and evaluated by the whole pack in turns of ``--turn`` events (0.5 s
of traffic by default: about what the detector evaluates between two
write-outs at 5,000 events/s). Every ``--state-seconds`` of traffic (the
detector's ``AUDIT_DETECTION_STATE_INTERVAL_SECONDS``; 0: every turn) the
keys whose state changed are serialized as the detector writes them to its
changelog (a snapshot of each, encoded by ``SegmentedState``: keys holding
many events as a head and the time segments that changed, others whole;
``--whole``: every key whole, as before segments); as in the detector, the next
write-out of state then waits until its serialization is at most
``--cost-share`` of the time between two (0: never longer than
``--state-seconds``). The detector judges by its clock, the bench by
seconds of traffic: the same at 5,000 events/s in real time.

Printed once a minute of event time: the CPU of evaluating a turn; per
write-out of state, its CPU, keys and bytes, and that CPU spread over the
turns it covers (what the detector's thread pays per turn); the events
held in state (all rules, and the rule holding most) and the process's
peak resident memory.
``bench_detection.py`` times a day of traffic, in which a key sees a few
events per window; this one shows what happens when keys see many, for as
long as their windows keep filling (session.hijack's is 30 minutes).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time
from datetime import timedelta
from typing import Any

from bench_detection import T0, Stream

from audit.adapters.bundled_data import load_rule_dir
from audit.domain.detection import DetectionEngine, Router
from audit.domain.detection.engine import DEFAULT_LATENESS
from audit.domain.detection.segments import MIN_EVENTS, SEGMENT_US, SegmentedState
from audit.services.detection import DetectionTask
from audit.services.detector_loop import STATE_COST_SHARE
from audit.settings import load_settings
from audit.wiring.collector import tune_collector


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=180, help="of event time")
    parser.add_argument("--rate", type=int, default=5000, help="events per second of event time")
    parser.add_argument("--turn", type=int, default=2500, help="events between two write-outs")
    parser.add_argument(
        "--jitter", type=float, default=1.0, help="each event up to this many seconds early"
    )
    parser.add_argument(
        "--state-seconds", type=float, default=5.0, help="traffic between write-outs of state"
    )
    parser.add_argument(
        "--cost-share", type=float, default=STATE_COST_SHARE, help="of serialization, at most"
    )
    parser.add_argument(
        "--whole", action="store_true", help="write every key whole (no time segments)"
    )
    parser.add_argument(
        "--min-events", type=int, default=MIN_EVENTS, help="a key holding fewer is written whole"
    )
    parser.add_argument(
        "--segment-seconds", type=float, default=SEGMENT_US / 1e6, help="width of a segment"
    )
    parser.add_argument(
        "--restore",
        action="store_true",
        help="at the end, restore a new engine from the compacted changelog and time it",
    )
    args = parser.parse_args()

    rules = load_rule_dir(load_settings().rules_dir)
    router = Router(rules)
    engine = DetectionEngine(rules)
    segments = SegmentedState(
        min_events=2**62 if args.whole else args.min_events,
        width_us=int(args.segment_seconds * 1e6),
    )
    stream = Stream(7)
    early = random.Random(3)
    tune_collector()
    start_rss = _peak_rss_mb()
    print(
        f"{args.rate:,} events/s of event time, up to {args.jitter:g} s early,"
        f" a turn every {args.turn:,} events, state written every {args.state_seconds:g} s"
        f" of traffic or more (serialization at most {args.cost_share:g} of it),"
        + (
            " every key whole"
            if args.whole
            else f" keys of {args.min_events}+ events in segments of {args.segment_seconds:g} s"
        )
    )
    total = args.rate * args.seconds
    done = 0
    minute = 0
    turns = writes = 0
    state_due = args.state_seconds
    evaluate = dump = slowest = 0.0
    keys = size = built = 0
    # The changelog as compaction leaves it: each key's latest record, in
    # the order of their offsets.
    compacted: dict[str, bytes | None] = {}
    while done < total:
        events = stream.events(args.turn)
        started = time.process_time()
        for event in events:
            moment = T0 + timedelta(seconds=done / args.rate - early.uniform(0, args.jitter))
            done += 1
            for routed in router.route(event._replace(timestamp=moment)):
                engine.feed(routed)
        built += len(engine.take_detections())  # once a turn, as the detector
        evaluated = time.process_time()
        turns += 1
        evaluate += evaluated - started
        if done / args.rate >= state_due or done >= total:
            changed = engine.take_changed_keys()
            for key in changed:
                for record_key, record in segments.encode(key, engine.snapshot_state(key)):
                    size += len(record) if record is not None else 0
                    if args.restore:
                        compacted.pop(record_key, None)
                        compacted[record_key] = record
            dumped = time.process_time()
            writes += 1
            keys += len(changed)
            dump += dumped - evaluated
            slowest = max(slowest, dumped - evaluated)
            gap = args.state_seconds
            if gap > 0 and args.cost_share > 0:
                gap = max(gap, (dumped - evaluated) / args.cost_share)
            state_due = done / args.rate + gap
        if done // (args.rate * 60) > minute or done >= total:
            minute = done // (args.rate * 60)
            entries = engine.entries_per_rule()
            held = sum(entries.values())
            rss = _peak_rss_mb()
            print(
                f"minute {done / args.rate / 60:.1f}: evaluate {evaluate / turns * 1000:.0f} ms"
                f" per turn ({built / turns:,.0f} detections); {writes} write-outs of state,"
                f" each {dump / max(writes, 1) * 1000:.0f} ms"
                f" (slowest {slowest * 1000:.0f}), {keys / max(writes, 1):,.0f} keys,"
                f" {size / max(writes, 1) / 1e6:.1f} MB, spread over its turns"
                f" {dump / turns * 1000:.0f} ms per turn;"
                f" {engine.active_keys:,} keys holding {held:,} events"
                f" ({_top(entries)}), peak RSS {rss:,.0f} MB"
                f" ({(rss - start_rss) * 2**20 / max(held, 1):,.0f} B"
                " per held event over the start's)",
                flush=True,
            )
            turns = writes = keys = size = built = 0
            evaluate = dump = slowest = 0.0
    if args.restore:
        _restore(rules, compacted, engine, args.whole)


def _restore(
    rules: list[Any], compacted: dict[str, bytes | None], engine: DetectionEngine, whole: bool
) -> None:
    """Restore a new engine from ``compacted`` as the detector does, timed,
    and check it holds what the running engine holds."""
    live = [(key, value) for key, value in compacted.items() if value is not None]
    task = DetectionTask(
        0,
        rules,
        lateness=DEFAULT_LATENESS,
        expected_sources=(),
        segments=SegmentedState(min_events=2**62) if whole else None,
    )
    collections = [0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            collections[0] += 1

    gc.callbacks.append(count)
    started, wall = time.process_time(), time.perf_counter()
    read = task.restore(live)
    cpu, elapsed = time.process_time() - started, time.perf_counter() - wall
    gc.callbacks.remove(count)
    same = task.engine.entries_per_rule() == engine.entries_per_rule()
    size = sum(len(value) for _, value in live if value is not None)
    print(
        f"restore: {len(live):,} records ({read:,} keys), {size / 1e6:.1f} MB,"
        f" {cpu:.2f} s CPU ({elapsed:.2f} s wall), {collections[0]:,} collections;"
        f" the same events held per rule: {same}",
        flush=True,
    )


def _top(entries: dict[str, int]) -> str:
    rule, count = max(entries.items(), key=lambda item: item[1], default=("none", 0))
    return f"{rule}: {count:,}"


def _peak_rss_mb() -> float:
    # The process's peak resident memory (Linux reports kilobytes): the
    # windows' events are most of it once they fill.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
