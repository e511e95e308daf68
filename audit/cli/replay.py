"""``audit replay``: publish a synthetic stream of Elastra traffic."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta

from audit.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser("replay", help="publish a synthetic stream of Elastra traffic")
    replay.add_argument("--events", type=int, default=10_000, help="messages to publish")
    replay.add_argument("--seed", type=int, default=7)
    replay.add_argument("--organizations", type=int, default=20)
    replay.add_argument("--users", type=int, default=25, help="users per organization")
    replay.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=None,
        help="event time of the first event (default: 6 h ago)",
    )
    replay.add_argument("--hours", type=float, default=6.0, help="span of event time")
    replay.add_argument(
        "--malformed",
        type=float,
        default=0.0,
        metavar="RATIO",
        help="share of malformed messages, e.g. 0.01",
    )
    replay.add_argument(
        "--duplicates",
        type=float,
        default=0.0,
        metavar="RATIO",
        help="share of redelivered events, e.g. 0.05",
    )
    replay.add_argument(
        "--scenario",
        action="append",
        default=None,
        metavar="NAME",
        help="mix a named attack scenario into the stream (repeatable; 'all' for every one);"
        " it begins a quarter into the span, or at --start with --events 0",
    )
    replay.add_argument(
        "--list-scenarios",
        action="store_true",
        help="list the scenarios (name, rules, kind, description) and exit",
    )
    replay.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    from audit.replay.mix import mixed_stream
    from audit.replay.scenarios import SCENARIOS, build_many, merge, resolve
    from audit.replay.traffic import TrafficGenerator, TrafficProfile
    from audit.wiring.replay import publish_replay

    if args.list_scenarios:
        for spec in SCENARIOS.values():
            kind = "near miss" if spec.near_miss else "attack"
            print(f"{spec.name}\t{','.join(spec.rule_ids)}\t{kind}\t{spec.description}")
        return 0
    try:
        scenario_names = resolve(args.scenario or [])
    except KeyError as err:
        raise SystemExit(
            f"audit replay: unknown scenario {err.args[0]} (see --list-scenarios)"
        ) from None
    start = args.start or (datetime.now().astimezone() - timedelta(hours=args.hours))
    if start.tzinfo is None:
        raise SystemExit("audit replay: --start needs a time zone, e.g. 2026-11-26T00:00:00Z")
    settings = load_settings()
    profile = TrafficProfile(
        organizations=args.organizations,
        users_per_organization=args.users,
        seed=args.seed,
        start=start,
        duration=timedelta(hours=args.hours),
    )
    stream = mixed_stream(
        TrafficGenerator(profile),
        args.events,
        malformed_ratio=args.malformed,
        duplicate_ratio=args.duplicates,
    )
    scenario_start = start + (timedelta(hours=args.hours) / 4 if args.events > 0 else timedelta())
    scenarios = build_many(scenario_names, scenario_start, args.seed)
    messages = merge(stream.messages, scenarios) if scenarios else stream.messages
    sent = publish_replay(settings, messages)
    print(
        json.dumps(
            {
                "published": sent,
                "unique_valid_events": len(stream.unique_event_ids)
                + sum(len(sc.events) for sc in scenarios),
                "malformed": stream.malformed,
                "duplicates": stream.duplicates,
                "scenarios": [
                    {
                        "name": sc.name,
                        "start": sc.start.isoformat(),
                        "events": len(sc.events),
                        "organization_ids": sc.organization_ids,
                        "expected": sc.expected,
                        "group_keys": sc.group_keys,
                    }
                    for sc in scenarios
                ],
            }
        )
    )
    return 0
