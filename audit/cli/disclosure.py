"""``audit disclosure new|show|decide|approve|report``: lawful disclosure requests (JSON out)."""

from __future__ import annotations

import argparse
from pathlib import Path

from audit.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    disclosure = sub.add_parser("disclosure", help="lawful disclosure requests")
    actions = disclosure.add_subparsers(dest="disclosure_action", required=True, metavar="ACTION")

    new = actions.add_parser("new", help="record a request described in a YAML file")
    new.add_argument("--file", required=True, type=Path, metavar="REQUEST.yaml")
    new.set_defaults(handler=_new)

    show = actions.add_parser("show", help="a request with its clocks, next steps and checklist")
    show.add_argument("request_id", metavar="ID")
    show.set_defaults(handler=_show)

    decide = actions.add_parser("decide", help="record a decision on a checklist item")
    decide.add_argument("request_id", metavar="ID")
    decide.add_argument("item_id", metavar="ITEM")
    decide.add_argument("--answer", required=True, metavar="VALUE")
    decide.add_argument("--rationale", required=True, metavar="TEXT")
    decide.add_argument("--by", required=True, metavar="WHO")
    decide.set_defaults(handler=_decide)

    approve = actions.add_parser("approve", help="one legal principal's approval")
    approve.add_argument("request_id", metavar="ID")
    approve.add_argument("--by", required=True, metavar="WHO")
    approve.set_defaults(handler=_approve)

    report = actions.add_parser("report", help="transparency counts of one year")
    report.add_argument("--year", required=True, type=int, metavar="YYYY")
    report.set_defaults(handler=_report)


def _run(args: argparse.Namespace) -> object:
    from audit.adapters.elasticsearch.client import build_client
    from audit.wiring.incidents import build_disclosures, utcnow

    settings = load_settings()
    client = build_client(settings)
    try:
        service = build_disclosures(settings, client)
        now = utcnow()
        action = args.disclosure_action
        if action == "new":
            request, hold = service.new(args.file, now)
            return {
                "request": request.model_dump(mode="json"),
                "hold_request": hold.model_dump(mode="json") if hold else None,
            }
        if action == "show":
            return service.show(args.request_id, now)
        if action == "decide":
            return service.decide(
                args.request_id,
                args.item_id,
                answer=args.answer,
                rationale=args.rationale,
                by=args.by,
                now=now,
            ).model_dump(mode="json")
        if action == "approve":
            return service.approve(args.request_id, by=args.by, now=now).model_dump(mode="json")
        return service.report(args.year).model_dump(mode="json")
    finally:
        client.close()


def _print(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import print_json

    print_json(_run(args), pretty=args.disclosure_action in ("show", "report"))
    return 0


_new = _show = _decide = _approve = _report = _print
