"""``audit events search``: stored events as JSON lines."""

from __future__ import annotations

import argparse
import sys

import orjson

from audit.settings import load_settings


def _aware(text: str) -> object:
    from datetime import datetime

    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +00:00)")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = sub.add_parser("events", help="stored audit events")
    actions = events.add_subparsers(dest="events_action", required=True, metavar="ACTION")
    search = actions.add_parser("search", help="search stored events (JSON lines, oldest first)")
    search.add_argument("--org", dest="organization_id")
    search.add_argument("--user", dest="user_id")
    search.add_argument("--ip", dest="source_ip")
    search.add_argument("--action")
    search.add_argument("--outcome", choices=["success", "failure", "unknown"])
    search.add_argument("--from", dest="since", type=_aware, metavar="TIME")
    search.add_argument("--to", dest="until", type=_aware, metavar="TIME")
    search.add_argument("--limit", type=int, default=1000)
    search.set_defaults(handler=_search)


def _search(args: argparse.Namespace) -> int:
    from audit.services.ports.events import EventQuery
    from audit.wiring.events import build_event_search

    query = EventQuery(
        organization_id=args.organization_id,
        user_id=args.user_id,
        source_ip=args.source_ip,
        action=args.action,
        outcome=args.outcome,
        since=args.since,
        until=args.until,
    )
    wiring = build_event_search(load_settings())
    out = sys.stdout.buffer
    try:
        for document in wiring.service.scan(query, limit=args.limit):
            out.write(orjson.dumps(document) + b"\n")
    finally:
        wiring.close()
    out.flush()
    return 0
