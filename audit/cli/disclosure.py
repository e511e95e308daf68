"""``audit disclosure new|show|decide|approve|report`` and one command per step of a
request (``verify|review|map|redirect|ndo|notice|produce|preserve|renew|close``):
lawful disclosure requests, JSON out. A refused step exits 1 with the reason."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from audit.domain.disclosure import ScopeLimits
from audit.settings import load_settings

if TYPE_CHECKING:
    from audit.services.disclosures import DisclosureService


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
    _register_steps(actions)


def _step(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=text)
    parser.add_argument("request_id", metavar="ID")
    parser.add_argument("--by", required=True, metavar="WHO")
    parser.set_defaults(handler=_print)
    return parser


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _register_steps(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from audit.wiring.incidents import aware_time

    verify = _step(actions, "verify", "record the out-of-band verification of the requester")
    verify.add_argument("--contact", required=True, help="the contact called back")
    verify.add_argument("--source", required=True, help="where that contact was found")
    verify.add_argument("--method", default="callback")
    verify.add_argument("--not-confirmed", action="store_true", help="the call did not confirm")

    review = _step(actions, "review", "legal review: accept, narrow, reject or challenge")
    review.add_argument(
        "--outcome", required=True, choices=["accept", "narrow", "reject", "challenge"]
    )
    review.add_argument("--reason", required=True)
    review.add_argument("--scope", default="", help="narrow: the narrowed scope text")
    review.add_argument(
        "--orgs", type=_csv, default=[], help="narrow: organizations, comma-separated"
    )
    review.add_argument("--users", type=_csv, default=[], help="narrow: user ids, comma-separated")
    review.add_argument(
        "--categories", type=_csv, default=[], help="narrow: data categories, comma-separated"
    )
    review.add_argument("--from", dest="time_from", type=aware_time, help="narrow: from (ISO)")
    review.add_argument("--to", dest="time_to", type=aware_time, help="narrow: until (ISO)")

    mapping = _step(actions, "map", "map the data the request reaches")
    mapping.add_argument("--categories", required=True, type=_csv)
    mapping.add_argument("--orgs", required=True, type=_csv)
    mapping.add_argument("--users", type=_csv, default=[])
    mapping.add_argument("--from", dest="time_from", type=aware_time)
    mapping.add_argument("--to", dest="time_to", type=aware_time)
    mapping.add_argument("--note", default="")

    redirect = _step(actions, "redirect", "record the redirect to the customer (content)")
    redirect.add_argument(
        "--outcome",
        required=True,
        choices=[
            "customer_will_respond",
            "requester_withdrew",
            "customer_unavailable",
            "requester_insists",
        ],
    )
    redirect.add_argument("--note", default="")

    ndo = _step(actions, "ndo", "record a non-disclosure order")
    ndo.add_argument("--expires", type=aware_time, help="its expiry (omit: no fixed expiry)")
    ndo.add_argument("--reference", default="")
    ndo.add_argument("--issuer", default="")
    ndo.add_argument("--scope", default="")

    notice = _step(actions, "notice", "record the customer notice")
    notice.add_argument("--status", required=True, choices=["sent", "deferred", "not_required"])
    notice.add_argument("--reason", default="")

    produce = _step(actions, "produce", "export the approved scope as signed bundles")
    produce.add_argument("--purpose", default="")

    preserve = _step(actions, "preserve", "place a legal hold on the request's data")
    preserve.add_argument("--why", required=True)
    preserve.add_argument("--expires", type=aware_time)

    renew = _step(actions, "renew", "renew the preservation (EU: a confirmed production order)")
    renew.add_argument("--why", required=True)
    renew.add_argument("--production-order", default="")

    close = _step(actions, "close", "close the request with its outcome (releases its hold)")
    close.add_argument(
        "--outcome",
        required=True,
        choices=[
            "disclosed",
            "partially_disclosed",
            "preserved_only",
            "redirected",
            "no_data",
            "rejected",
            "withdrawn",
        ],
    )
    close.add_argument("--why", default="")


def _run_step(service: DisclosureService, args: argparse.Namespace, now: datetime) -> object:
    action, rid, by = args.disclosure_action, args.request_id, args.by
    if action == "verify":
        request = service.verify(
            rid,
            contact_used=args.contact,
            contact_source=args.source,
            confirmed=not args.not_confirmed,
            method=args.method,
            by=by,
            now=now,
        )
    elif action == "review":
        limits = None
        if args.orgs or args.users or args.time_from or args.time_to or args.categories:
            limits = ScopeLimits(
                organization_ids=tuple(args.orgs),
                user_ids=tuple(args.users),
                time_from=args.time_from,
                time_to=args.time_to,
                data_categories=tuple(args.categories),
            )
        request = service.review(
            rid, args.outcome, reason=args.reason, scope=args.scope, limits=limits, by=by, now=now
        )
    elif action == "map":
        request = service.map(
            rid,
            data_categories=args.categories,
            organization_ids=args.orgs,
            user_ids=args.users,
            time_from=args.time_from,
            time_to=args.time_to,
            note=args.note,
            by=by,
            now=now,
        )
    elif action == "redirect":
        request = service.redirect(rid, args.outcome, note=args.note, by=by, now=now)
    elif action == "ndo":
        request = service.ndo(
            rid,
            expires_at=args.expires,
            reference=args.reference,
            issuer=args.issuer,
            scope=args.scope,
            by=by,
            now=now,
        )
    elif action == "notice":
        request = service.notice(rid, args.status, reason=args.reason, by=by, now=now)
    elif action == "produce":
        request = service.produce(rid, purpose=args.purpose, by=by, now=now)
    elif action == "preserve":
        request = service.preserve(rid, why=args.why, expires_at=args.expires, by=by, now=now)
    elif action == "renew":
        request = service.renew(
            rid, why=args.why, production_order=args.production_order, by=by, now=now
        )
    else:
        request = service.close(rid, args.outcome, why=args.why, by=by, now=now)
    return request.model_dump(mode="json")


def _run(args: argparse.Namespace) -> object:
    from audit.wiring.incidents import open_disclosures, utcnow

    with open_disclosures(load_settings()) as service:
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
        if action == "report":
            return service.report(args.year).model_dump(mode="json")
        return _run_step(service, args, now)


def _print(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import print_json

    print_json(_run(args), pretty=args.disclosure_action in ("show", "report"))
    return 0


_new = _show = _decide = _approve = _report = _print
