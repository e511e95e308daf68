"""``audit detect``: run the streaming detector."""

from __future__ import annotations

import argparse
import json

from audit.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    detect = sub.add_parser("detect", help="run the streaming detector")
    detect.add_argument(
        "--until-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after this long with nothing to read, having committed",
    )
    detect.add_argument("--json", action="store_true", help="print the run summary as JSON")
    detect.set_defaults(handler=_detect)


def _detect(args: argparse.Namespace) -> int:
    from audit.logging_setup import configure_logging
    from audit.wiring.collector import tune_collector
    from audit.wiring.detect import run_detector

    configure_logging()
    tune_collector()
    raised = run_detector(load_settings(), until_idle=args.until_idle)
    print(
        json.dumps({"detections_written": raised}) if args.json else f"detections written: {raised}"
    )
    return 0


def register_late(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    late = actions.add_parser(
        "late", help="events too late for detection (past the late horizon), with the reason"
    )
    late.add_argument("--json", action="store_true", help="one JSON object per line")
    late.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    late.set_defaults(handler=_late)


def _late(args: argparse.Namespace) -> int:
    from audit.wiring.detect import too_late_sample

    for item in too_late_sample(load_settings(), args.limit):
        if args.json:
            print(json.dumps(item, sort_keys=True))
        else:
            print(f"{item['event_time']} {item['rule_id']} {item['event_id']}: {item['reason']}")
    return 0
