"""``audit scheduler``: the process that runs the timed jobs (see audit/wiring/scheduler.py)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from audit.settings import load_settings

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: Sub) -> None:
    scheduler = sub.add_parser(
        "scheduler", help="run the timed jobs (deadlines, digests, retention)"
    )
    scheduler.add_argument(
        "--once", action="store_true", help="run the deadlines job once and exit"
    )
    scheduler.set_defaults(handler=_scheduler)


def _scheduler(args: argparse.Namespace) -> int:
    from audit.logging_setup import configure_logging
    from audit.wiring.incidents import print_json
    from audit.wiring.scheduler import build_scheduler

    configure_logging()
    wiring = build_scheduler(load_settings())
    try:
        if args.once:
            result = wiring.run_deadlines_once()
            print_json(result)
            return 1 if result["outcome"] == "failure" else 0
        wiring.run_forever()
    finally:
        wiring.close()
    return 0
