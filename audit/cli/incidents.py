"""``audit incidents ...``, ``audit checklist decide``, ``audit detections list``:
thin commands over the incident services (JSON out)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from audit.settings import load_settings

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: Sub) -> None:
    from audit.wiring.incidents import aware_time

    incidents = sub.add_parser("incidents", help="security incidents")
    actions = incidents.add_subparsers(dest="incidents_action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="incidents, oldest first (one JSON per line)")
    listing.add_argument("--json", action="store_true", help="the full JSON form of each")
    listing.add_argument("--status")
    listing.add_argument("--org")
    listing.add_argument("--rule")
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="facts, checklist and history of one incident")
    show.add_argument("incident_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="(JSON is the only output form)")
    show.set_defaults(handler=_show)

    move = actions.add_parser("transition", help="move an incident to another status")
    move.add_argument("incident_id", metavar="ID")
    move.add_argument("status", metavar="STATUS")
    move.add_argument("--by", required=True, metavar="WHO")
    move.add_argument("--note", required=True, metavar="TEXT")
    move.set_defaults(handler=_transition)

    give = actions.add_parser("assign", help="give an incident to someone")
    give.add_argument("incident_id", metavar="ID")
    give.add_argument("assignee", metavar="WHO")
    give.add_argument("--by", metavar="WHO", help="who assigns (default: the assignee)")
    give.add_argument("--note", default="", metavar="TEXT")
    give.set_defaults(handler=_assign)

    note = actions.add_parser("comment", help="add a comment to the history")
    note.add_argument("incident_id", metavar="ID")
    note.add_argument("--by", required=True, metavar="WHO")
    note.add_argument("--text", required=True)
    note.set_defaults(handler=_comment)

    sync = actions.add_parser("sync", help="feed stored detections not yet in an incident")
    sync.add_argument("--since", type=aware_time, metavar="TIME")
    sync.set_defaults(handler=_sync)

    _register_others(sub)


def _register_others(sub: Sub) -> None:
    from audit.wiring.incidents import aware_time

    checklist = sub.add_parser("checklist", help="disclosure-decision checklists of incidents")
    c_actions = checklist.add_subparsers(dest="checklist_action", required=True, metavar="ACTION")
    decide = c_actions.add_parser("decide", help="record a decision on a checklist item")
    decide.add_argument("incident_id", metavar="INCIDENT_ID")
    decide.add_argument("item_id", metavar="ITEM_ID")
    decide.add_argument("--answer", required=True, metavar="VALUE")
    decide.add_argument("--rationale", required=True, metavar="TEXT")
    decide.add_argument("--by", required=True, metavar="WHO")
    decide.add_argument("--effective-at", type=aware_time, metavar="TIME")
    decide.add_argument("--expires-at", type=aware_time, metavar="TIME")
    decide.add_argument("--late-reasons", metavar="TEXT")
    decide.set_defaults(handler=_decide)

    detections = sub.add_parser("detections", help="stored detections")
    d_actions = detections.add_subparsers(dest="detections_action", required=True, metavar="ACTION")
    d_list = d_actions.add_parser("list", help="detections by first event time (JSON lines)")
    d_list.add_argument("--json", action="store_true", help="(JSON is the only output form)")
    d_list.add_argument("--rule")
    d_list.add_argument("--org")
    d_list.add_argument("--since", type=aware_time, metavar="TIME")
    d_list.set_defaults(handler=_detections)
    from audit.cli.detect import register_late

    register_late(d_actions)


def _list(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import build_incidents, print_json

    wiring = build_incidents(load_settings())
    try:
        for incident in wiring.service.list(status=args.status, org=args.org, rule=args.rule):
            if args.json:
                print_json(incident.model_dump(mode="json"))
            else:
                print_json(
                    {
                        "id": incident.id,
                        "status": incident.status.value,
                        "severity": incident.severity.value,
                        "title": incident.title,
                        "organization_ids": list(incident.organization_ids),
                        "opened_at": incident.opened_at.isoformat(),
                    }
                )
    finally:
        wiring.close()
    return 0


def _show(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import build_incidents, print_json, utcnow

    wiring = build_incidents(load_settings())
    try:
        print_json(wiring.service.show(args.incident_id, utcnow()), pretty=True)
    finally:
        wiring.close()
    return 0


def _transition(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import build_incidents, print_json, utcnow

    wiring = build_incidents(load_settings())
    try:
        incident = wiring.service.transition(
            args.incident_id, args.status, by=args.by, note=args.note, now=utcnow()
        )
        print_json(incident.model_dump(mode="json"))
    finally:
        wiring.close()
    return 0


def _assign(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import build_incidents, print_json, utcnow

    wiring = build_incidents(load_settings())
    try:
        incident = wiring.service.assign(
            args.incident_id,
            args.assignee,
            by=args.by or args.assignee,
            note=args.note,
            now=utcnow(),
        )
        print_json(incident.model_dump(mode="json"))
    finally:
        wiring.close()
    return 0


def _comment(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import build_incidents, print_json, utcnow

    wiring = build_incidents(load_settings())
    try:
        incident = wiring.service.comment(args.incident_id, args.text, by=args.by, now=utcnow())
        print_json(incident.model_dump(mode="json"))
    finally:
        wiring.close()
    return 0


def _sync(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import build_incidents, print_json, utcnow

    wiring = build_incidents(load_settings())
    try:
        print_json(wiring.service.sync_detections(args.since, utcnow()))
    finally:
        wiring.close()
    return 0


def _decide(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import build_incidents, print_json, utcnow

    wiring = build_incidents(load_settings())
    try:
        incident = wiring.service.decide(
            args.incident_id,
            args.item_id,
            answer=args.answer,
            rationale=args.rationale,
            by=args.by,
            now=utcnow(),
            effective_at=args.effective_at,
            expires_at=args.expires_at,
            late_reasons=args.late_reasons,
        )
        print_json(incident.model_dump(mode="json"))
    finally:
        wiring.close()
    return 0


def _detections(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import open_detections, print_json

    with open_detections(load_settings()) as store:
        for detection in store.list(rule_id=args.rule, organization_id=args.org, since=args.since):
            print_json(detection.model_dump(mode="json"))
    return 0
