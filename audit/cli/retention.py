"""``audit retention ...``, ``audit holds ...``, ``audit erase-org``: thin, JSON out.

Index names printed are the deployment's (``AUDIT_INDEX_PREFIX``,
``AUDIT_HOLD_COPY_PREFIX``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from audit.settings import load_settings

if TYPE_CHECKING:
    from audit.wiring.retention import RetentionWiring

    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: Sub) -> None:
    from audit.wiring.incidents import aware_time

    retention = sub.add_parser("retention", help="retention tiers and deletion")
    actions = retention.add_subparsers(dest="retention_action", required=True, metavar="ACTION")
    planning = actions.add_parser("plan", help="dry run: every index, its tier, the action")
    planning.add_argument("--at", type=aware_time, help="plan time (default: now)")
    planning.add_argument("--json", action="store_true", help="one JSON object per index")
    planning.set_defaults(handler=_plan)
    applying = actions.add_parser("apply", help="apply the plan (resumable)")
    applying.add_argument("--at", type=aware_time, help="plan time (default: now)")
    applying.set_defaults(handler=_apply)
    set_class = actions.add_parser("set-class", help="an organization's retention class")
    set_class.add_argument("org")
    set_class.add_argument("retention_class", metavar="CLASS")
    set_class.add_argument("--by", required=True)
    set_class.add_argument("--reason", required=True)
    set_class.set_defaults(handler=_set_class)

    holds = sub.add_parser("holds", help="legal holds")
    hold_actions = holds.add_subparsers(dest="holds_action", required=True, metavar="ACTION")
    create = hold_actions.add_parser("create", help="place a legal hold")
    create.add_argument("--org", action="append", required=True, help="repeatable")
    create.add_argument("--user", action="append", default=[], help="user id, repeatable")
    create.add_argument("--from", dest="start", type=aware_time)
    create.add_argument("--to", dest="end", type=aware_time, help="exclusive")
    create.add_argument("--by", required=True)
    create.add_argument("--reason", required=True)
    create.add_argument("--reference", required=True, help="case or request reference")
    create.add_argument("--expires", type=aware_time)
    create.add_argument("--id", dest="hold_id", help="default: generated")
    create.set_defaults(handler=_create_hold)
    listing = hold_actions.add_parser("list", help="every hold, active or not")
    listing.add_argument("--json", action="store_true", help="one JSON object per hold")
    listing.set_defaults(handler=_list_holds)
    release = hold_actions.add_parser("release", help="release a hold (logged)")
    release.add_argument("hold_id", metavar="ID")
    release.add_argument("--by", required=True)
    release.add_argument("--reason", required=True)
    release.set_defaults(handler=_release_hold)

    erase = sub.add_parser("erase-org", help="delete one organization's events (held ones kept)")
    erase.add_argument("org")
    erase.add_argument("--by", required=True)
    erase.add_argument("--reason", required=True)
    erase.add_argument("--dry-run", action="store_true", help="count only")
    erase.set_defaults(handler=_erase)


@contextmanager
def _wiring() -> Iterator[RetentionWiring]:
    from audit.wiring.retention import open_retention

    with open_retention(load_settings()) as wiring:
        yield wiring


def _plan(args: argparse.Namespace) -> int:
    from audit.services.retention import describe
    from audit.wiring.incidents import print_json, utcnow

    at = args.at or utcnow()
    with _wiring() as wiring:
        for action in wiring.retention.plan(at):
            line = describe(action, wiring.display)
            if args.json:
                print_json(line)
            else:
                print(f"{line['index']}\t{line['tier']}\t{line['action']}\t{line['reason']}")
    return 0


def _apply(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import print_json, utcnow

    with _wiring() as wiring:
        report = wiring.retention.apply(args.at or utcnow())
    print_json(report.to_json())
    return 0 if report.ok else 1


def _set_class(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import print_json, utcnow

    with _wiring() as wiring:
        change = wiring.classes.set_org_class(
            args.org, args.retention_class, args.by, args.reason, utcnow()
        )
    print_json(change.to_json())
    return 0


def _create_hold(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import print_json, utcnow

    with _wiring() as wiring:
        hold = wiring.holds.create(
            organization_ids=args.org,
            user_ids=args.user,
            start=args.start,
            end=args.end,
            by=args.by,
            reason=args.reason,
            reference=args.reference,
            expires_at=args.expires,
            hold_id=args.hold_id,
            at=utcnow(),
        )
    print_json(hold.model_dump(mode="json"))
    return 0


def _list_holds(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import print_json, utcnow

    with _wiring() as wiring:
        holds = wiring.holds.listing(utcnow())
    for hold in holds:
        if args.json:
            print_json(hold)
        else:
            state = "active" if hold["active"] else "ended"
            print(f"{hold['id']}\t{state}\t{hold['reference']}\t{hold['reason']}")
    return 0


def _release_hold(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import print_json, utcnow

    with _wiring() as wiring:
        hold = wiring.holds.release(args.hold_id, args.by, args.reason, utcnow())
    print_json(hold.model_dump(mode="json") | {"release_reason": args.reason})
    return 0


def _erase(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import print_json, utcnow

    with _wiring() as wiring:
        report = wiring.erasure.erase(args.org, args.by, args.reason, utcnow(), args.dry_run)
    print_json(report.to_json())
    return 0
