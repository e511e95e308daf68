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
    from audit.adapters.elasticsearch.client import build_client
    from audit.adapters.elasticsearch.event_search import EventQuery, search_events

    query = EventQuery(
        organization_id=args.organization_id,
        user_id=args.user_id,
        source_ip=args.source_ip,
        action=args.action,
        outcome=args.outcome,
        since=args.since,
        until=args.until,
    )
    settings = load_settings()
    client = build_client(settings)
    out = sys.stdout.buffer
    try:
        # The events alias is AUDIT_INDEX_PREFIX, as everywhere else.
        events = search_events(client, query, index=settings.index_prefix, limit=args.limit)
        for document in events:
            out.write(orjson.dumps(document) + b"\n")
    finally:
        client.close()
    out.flush()
    return 0
