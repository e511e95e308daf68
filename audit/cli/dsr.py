"""``audit dsr new|show|decide|extend|execute|lift|list``: data-subject requests (JSON out)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from audit.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dsr = sub.add_parser("dsr", help="data-subject requests (access, erasure, restriction, ...)")
    actions = dsr.add_subparsers(dest="dsr_action", required=True, metavar="ACTION")

    new = actions.add_parser("new", help="record a request described in a YAML or JSON file")
    new.add_argument("--file", required=True, type=Path, metavar="REQUEST.yaml")
    new.add_argument("--by", required=True, metavar="WHO")
    new.set_defaults(handler=_run)

    show = actions.add_parser("show", help="a request with its clock")
    show.add_argument("request_id", metavar="ID")
    show.set_defaults(handler=_run)

    listing = actions.add_parser("list", help="the latest requests")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(handler=_run)

    decide = actions.add_parser("decide", help="approve or refuse a request")
    decide.add_argument("request_id", metavar="ID")
    choice = decide.add_mutually_exclusive_group(required=True)
    choice.add_argument("--approve", action="store_true")
    choice.add_argument("--refuse", action="store_true")
    decide.add_argument("--by", required=True, metavar="WHO")
    decide.add_argument("--reason", default="", metavar="TEXT")
    decide.add_argument(
        "--exempt",
        action="append",
        default=[],
        metavar="EVENT_ID=art17_3_b|art17_3_e",
        help="erasure: keep an event (or * for all) under GDPR Art. 17(3)(b) or (e)",
    )
    decide.set_defaults(handler=_run)

    extend = actions.add_parser("extend", help="extend the period (once), with reasons")
    extend.add_argument("request_id", metavar="ID")
    extend.add_argument("--reasons", required=True, metavar="TEXT")
    extend.add_argument("--subject-told-at", required=True, type=datetime.fromisoformat)
    extend.add_argument("--by", required=True, metavar="WHO")
    extend.set_defaults(handler=_run)

    execute = actions.add_parser("execute", help="carry out an approved request")
    execute.add_argument("request_id", metavar="ID")
    execute.add_argument("--by", required=True, metavar="WHO")
    execute.add_argument("--out", type=Path, metavar="DIR", help="access/portability bundles")
    execute.set_defaults(handler=_run)

    lift = actions.add_parser("lift", help="lift an executed restriction or objection")
    lift.add_argument("request_id", metavar="ID")
    lift.add_argument("--by", required=True, metavar="WHO")
    lift.add_argument("--reason", required=True, metavar="TEXT")
    lift.set_defaults(handler=_run)


def _exemptions(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        event_id, sep, exemption = item.partition("=")
        if not sep:
            raise SystemExit(f"--exempt wants EVENT_ID=EXEMPTION, got {item!r}")
        out[event_id] = exemption
    return out


def _dispatch(args: argparse.Namespace) -> Any:
    from audit.wiring.incidents import utcnow
    from audit.wiring.privacy import open_dsr

    with open_dsr(load_settings()) as service:
        now = utcnow()
        action = args.dsr_action
        if action == "new":
            payload = yaml.safe_load(args.file.read_text(encoding="utf-8"))
            return service.new(payload, args.by, now).as_dict()
        if action == "show":
            return service.show(args.request_id, now)
        if action == "list":
            return service.recent(args.limit)
        if action == "decide":
            return service.decide(
                args.request_id,
                args.approve,
                args.by,
                now,
                args.reason,
                _exemptions(args.exempt),
            ).as_dict()
        if action == "extend":
            return service.extend(
                args.request_id, args.reasons, args.subject_told_at, args.by
            ).as_dict()
        if action == "execute":
            return service.execute(args.request_id, args.by, now, args.out).as_dict()
        return service.lift(args.request_id, args.by, args.reason, now).as_dict()


def _run(args: argparse.Namespace) -> int:
    result = _dispatch(args)
    json.dump(result, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
    return 0
