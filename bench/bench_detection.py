"""Detection core throughput: route + evaluate with the whole rule pack, one core.

    .venv/bin/python bench/bench_detection.py [--events 200000] [--seed 7] [--gc-off]

Prints events/s of route+evaluate next to two baselines in the same run (a
loop reading the same fields with ``get_path``; and the floor: routing plus
the least bookkeeping any windowed evaluator does per routed record in
CPython, with none of the engine's semantics), their ratios, the routed records
per event, the detections raised, and the state size per active group key
(JSON bytes as written to the changelog, and Python heap bytes measured
with tracemalloc in a second pass).

The garbage collector is set up as the detector process sets it up
(:func:`audit.wiring.collector.tune_collector`, called by its entry
points); route+evaluate is also timed with the collector off, for
reference, and the collector's share of route+evaluate is printed (from
the two rates, and for every phase the CPU seconds spent inside
collections, clocked by a ``gc.callbacks`` hook).
``--gc-off`` times every phase without the collector.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from audit.adapters.bundled_data import load_rule_dir
from audit.domain.detection import DetectionEngine, Router
from audit.domain.event import NormalizedEvent, normalize_message
from audit.domain.fields import get_path
from audit.wiring.collector import tune_collector

T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
CITIES = [
    ("FR", 48.85, 2.35),
    ("DE", 52.52, 13.40),
    ("US", 40.71, -74.0),
    ("GB", 51.5, -0.12),
    ("ES", 40.41, -3.70),
    ("NL", 52.37, 4.90),
    ("JP", 35.68, 139.69),
    ("BR", -23.55, -46.63),
]
FIELDS = (
    "event.reason",
    "user.id",
    "user.name",
    "user.roles",
    "user.target.id",
    "source.ip",
    "source.geo.country_iso_code",
    "source.geo.location",
    "elastra.session.id",
    "elastra.token.id",
    "elastra.api_key.id",
    "elastra.resource.organization_id",
    "elastra.records",
    "elastra.mfa.method",
    "elastra.role",
    "elastra.retention.days_after",
)


class Stream:
    def __init__(self, seed: int, orgs: int = 50, users: int = 2000) -> None:
        self.rng = random.Random(seed)
        self.n = 0
        self.users = [
            (f"org_{i % orgs}", f"usr_{i}", self.rng.choice(CITIES), f"10.{i // 250}.{i % 250}.1")
            for i in range(users)
        ]

    def make(
        self, when: datetime, action: str, outcome: str, user: tuple, **extra: Any
    ) -> NormalizedEvent:
        self.n += 1
        org, uid, city, ip = user
        country, lat, lon = city
        event_id = f"ev{self.n:09d}"
        category = "customer_content" if action.startswith("content") else "authentication_security"
        doc: dict[str, Any] = {
            "@timestamp": when.isoformat(),
            "event": {"id": event_id, "action": action, "outcome": outcome, "provider": "bench"},
            "organization": {"id": org},
            "user": {"id": uid, "name": f"{uid}@example.com"},
            "source": {
                "ip": ip,
                "geo": {"country_iso_code": country, "location": {"lat": lat, "lon": lon}},
            },
            "elastra": {"data_category": category, "session": {"id": f"ses_{uid}"}},
        }
        for path, value in extra.items():
            node = doc
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return NormalizedEvent(event_id, org, action, outcome, when, category, doc)

    def events(self, count: int) -> list[NormalizedEvent]:
        rng = self.rng
        out: list[NormalizedEvent] = []
        step = timedelta(seconds=86_400 / count)  # one day of traffic
        for i in range(count):
            # producers' clocks and partitions interleave: up to 30 s of jitter
            when = T0 + step * i - timedelta(seconds=rng.uniform(0, 30))
            user = rng.choice(self.users)
            roll = rng.random()
            if roll < 0.45:
                out.append(
                    self.make(
                        when,
                        "content.read",
                        "success",
                        user,
                        **{
                            "elastra.resource.organization_id": user[0],
                            "elastra.resource.type": "prompt",
                            "elastra.records": rng.randint(1, 50),
                        },
                    )
                )
            elif roll < 0.75:
                out.append(self.make(when, "user.login", "success", user))
            elif roll < 0.85:
                out.append(
                    self.make(
                        when, "user.login", "failure", user, **{"event.reason": "bad_password"}
                    )
                )
            elif roll < 0.90:
                out.append(
                    self.make(
                        when, "token.use", "success", user, **{"elastra.token.id": f"tok_{user[1]}"}
                    )
                )
            elif roll < 0.93:
                out.append(
                    self.make(
                        when,
                        "content.export",
                        "success",
                        user,
                        **{"elastra.records": rng.randint(100, 20_000)},
                    )
                )
            elif roll < 0.95:
                out.append(
                    self.make(
                        when,
                        "user.mfa.challenge",
                        "failure",
                        user,
                        **{"elastra.mfa.method": "push", "event.reason": "denied"},
                    )
                )
            elif roll < 0.97:
                out.append(self.make(when, "rate_limit.exceeded", "failure", user))
            elif roll < 0.98:
                # spraying: one attacker IP against random accounts
                attacker = (user[0], user[1], user[2], "198.51.100.66")
                out.append(
                    self.make(
                        when, "user.login", "failure", attacker, **{"event.reason": "unknown_user"}
                    )
                )
            elif roll < 0.99:
                out.append(
                    self.make(
                        when,
                        "resource.access",
                        "failure",
                        user,
                        **{
                            "event.reason": "cross_tenant",
                            "elastra.resource.organization_id": "org_victim",
                        },
                    )
                )
            else:
                out.append(self.make(when, "user.logout", "success", user))
        return out


#: Events the detector evaluates in one turn at 5,000 events/s (its poll
#: of up to 0.5 s); detections are built once a turn.
TURN = 2500


def timed(label: str, count: int, fn: Callable[[], Any], gc_off: bool = False) -> float:
    """Events per CPU second of this process (robust to a busy machine),
    with the wall-clock rate beside it."""
    gc.collect()
    if gc_off:  # --gc-off: without the cyclic collector (what it costs)
        gc.disable()
    in_collector = [0.0, 0.0]  # CPU seconds inside collections; start of the current one

    def clock_collections(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            in_collector[1] = time.process_time()
        else:
            in_collector[0] += time.process_time() - in_collector[1]

    gc.callbacks.append(clock_collections)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    fn()
    cpu = time.process_time() - start_cpu
    wall = time.perf_counter() - start_wall
    gc.callbacks.remove(clock_collections)
    gc.enable()
    rate = count / cpu
    print(
        f"{label:<36} {rate:>10,.0f} events/CPU-s  (wall: {count / wall:>9,.0f}/s; "
        f"in the collector: {in_collector[0]:.2f} of {cpu:.2f} CPU-s)"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--gc-off",
        action="store_true",
        help="time without the cyclic garbage collector (what it costs the engine)",
    )
    args = parser.parse_args()

    rules = load_rule_dir()
    events = Stream(args.seed).events(args.events)
    router = Router(rules)
    # The collector as the detector process runs it (same function). It
    # also freezes the input list, an artefact of the benchmark (a consumer
    # holds one batch at a time): the collector does not rescan it.
    tune_collector()
    print(f"{len(rules)} rules, {len(events):,} events, 50 orgs, 2,000 users, one day\n")

    def baseline() -> None:
        for event in events:
            for path in FIELDS:
                get_path(event.document, path)

    routed_count = 0

    def route_only() -> None:
        nonlocal routed_count
        route = router.route
        for event in events:
            routed_count += len(route(event))

    # The floor: what any windowed evaluator must do per routed record in
    # CPython (find the key's state, append the event time, drop what left
    # the window, compare a count), with none of the engine's semantics.
    # It bounds what a faster engine in this language could reach.
    window_us = {
        rule.id: int(getattr(rule, "window", timedelta(0)).total_seconds() * 1_000_000)
        for rule in rules
    }
    least = {rule.id: int(getattr(rule, "threshold", 0) or 2) for rule in rules}

    def route_and_floor() -> None:
        route = router.route
        states: dict[str, deque[int]] = {}
        changed: set[str] = set()
        fired: set[str] = set()
        for event in events:
            for routed in route(event):
                key = routed.key
                times = states.get(key)
                if times is None:
                    times = states[key] = deque()
                time_us = routed.time_us
                times.append(time_us)
                low = time_us - window_us[routed.rule_id]
                while times[0] < low:
                    times.popleft()
                changed.add(key)
                if len(times) >= least[routed.rule_id]:
                    fired.add(key)

    engine = DetectionEngine(rules)
    detections: dict[str, Any] = {}

    def route_and_evaluate() -> None:
        # As the detector does: events fed, detections taken once a turn.
        route = router.route
        feed = engine.feed
        for first in range(0, len(events), TURN):
            for event in events[first : first + TURN]:
                for routed in route(event):
                    feed(routed)
            for found in engine.take_detections():
                detections[found.id] = found
        for found in engine.flush():
            detections[found.id] = found

    reference: dict[str, Any] = {}

    def route_and_evaluate_again() -> None:
        """The same on a fresh engine: timed with the collector off."""
        fresh = DetectionEngine(rules)
        route = router.route
        process = fresh.process
        for event in events:
            for routed in route(event):
                for found in process(routed):
                    reference[found.id] = found
        for found in fresh.flush():
            reference[found.id] = found

    # The baseline: validate + normalize the same events from bytes.
    raw = [orjson.dumps(event.document) for event in events]
    received_at = max(event.timestamp for event in events)

    def validate_only() -> None:
        for value in raw:
            normalize_message(value, received_at=received_at)

    validate = timed("validate + normalize only", len(events), validate_only, args.gc_off)
    base = timed("baseline (get_path of 16 fields)", len(events), baseline, args.gc_off)
    timed("route only", len(events), route_only, args.gc_off)
    floor = timed("route + the least evaluation (floor)", len(events), route_and_floor, args.gc_off)
    full = timed("route + evaluate (whole pack)", len(events), route_and_evaluate, args.gc_off)
    off = timed("  same, collector off (reference)", len(events), route_and_evaluate_again, True)
    print(f"\nratio route+evaluate / baseline: {full / base:.2f}")
    print(f"ratio route+evaluate / floor: {full / floor:.2f}")
    print(f"collector's share of route+evaluate: {1 - full / off:.0%}")
    if {k: v.model_dump() for k, v in reference.items()} != {
        k: v.model_dump() for k, v in detections.items()
    }:
        raise SystemExit("the reference run raised different detections")
    print(f"ratio route+evaluate / validate+normalize: {full / validate:.2f}")
    print(f"routed records per event: {routed_count / len(events):.2f}")
    print(f"late events: {engine.late_events}, detections: {len(detections)}")
    # One digest of every detection's JSON: a change that must not alter
    # in-order detections (the window keeping events for late arrivals,
    # issue 12 item 2) is checked by comparing it before and after.
    digest = hashlib.sha256(
        orjson.dumps(sorted((k, v.model_dump(mode="json")) for k, v in detections.items()))
    ).hexdigest()[:16]
    print(f"detections digest (sha256 of their JSON): {digest}")
    by_rule: dict[str, int] = {}
    for found in detections.values():
        by_rule[found.rule_id] = by_rule.get(found.rule_id, 0) + 1
    print("  " + ", ".join(f"{k}={v}" for k, v in sorted(by_rule.items())))

    end = events[-1].timestamp
    print(f"\nactive group keys at end of day: {engine.active_keys:,}")
    print(f"changelog JSON bytes per key (mean of 500): {engine.approx_bytes_per_key():,.0f}")
    engine.expire(end)
    print(
        f"after expire(end of day): {engine.active_keys:,} keys, "
        f"{engine.approx_bytes_per_key():,.0f} JSON bytes per key"
    )

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    second = DetectionEngine(rules)
    for event in events:
        for routed in router.route(event):
            second.process(routed)
    second.expire(end)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(
        f"heap bytes per active key (tracemalloc): "
        f"{(after - before) / max(1, second.active_keys):,.0f}"
    )


if __name__ == "__main__":
    main()
