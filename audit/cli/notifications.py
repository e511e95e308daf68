"""``audit notifications list|redrive``: the webhook delivery log, for on-call (JSON out).

``list`` prints one JSON object per delivery (``--status pending|failed|
rejected|delivered``); ``redrive`` sends again what was recorded and not
delivered, as the scheduler does every minute, and prints the outcomes.
``--channel legal``: legal's own log (lawful-request deadlines) instead of
on-call's.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from audit.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notifications = sub.add_parser("notifications", help="webhook deliveries: list, redrive")
    actions = notifications.add_subparsers(
        dest="notifications_action", required=True, metavar="ACTION"
    )
    listing = actions.add_parser("list", help="the delivery log, oldest first (JSON lines)")
    _channel(listing)
    listing.add_argument(
        "--status",
        action="append",
        choices=["pending", "failed", "rejected", "delivered"],
        help="only these statuses (repeatable)",
    )
    listing.set_defaults(handler=_run)
    redrive = actions.add_parser("redrive", help="send again what was not delivered")
    _channel(redrive)
    redrive.add_argument(
        "--stale-seconds",
        type=float,
        default=None,
        help="a pending delivery older than this is resent (default: the longest a send takes)",
    )
    redrive.set_defaults(handler=_run)


def _channel(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--channel",
        choices=["on-call", "legal"],
        default="on-call",
        help="whose deliveries: on-call's (incidents) or legal's (lawful-request deadlines)",
    )


def _run(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import (
        build_incidents,
        delivery_log,
        legal_delivery_log,
        print_json,
        utcnow,
    )

    settings = load_settings()
    wiring = build_incidents(settings)
    try:
        if args.channel == "legal":
            notifier, unset = legal_delivery_log(settings, wiring), "AUDIT_LEGAL_WEBHOOK_URL"
        else:
            notifier, unset = delivery_log(wiring), "AUDIT_WEBHOOK_URL"
        if notifier is None:
            print_json({"error": f"no webhook configured ({unset} is unset)"})
            return 1
        if args.notifications_action == "list":
            for entry in notifier.entries(args.status or ()):
                entry.pop("payload", None)
                print_json(entry)
            return 0
        stale = timedelta(seconds=args.stale_seconds) if args.stale_seconds is not None else None
        print_json(notifier.redrive(utcnow(), stale))
        return 0
    finally:
        wiring.close()
