"""``audit consume``: run the ingest consumer (``consumers/ingest.py``)."""

from __future__ import annotations

import argparse
import json

from audit.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consume = sub.add_parser("consume", help="run the ingest consumer")
    consume.add_argument(
        "--until-idle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="exit after this long with nothing to read, having committed",
    )
    consume.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="run N members of the consumer group, one process each (metrics on port+i)",
    )
    consume.add_argument("--json", action="store_true", help="print the run summary as JSON")
    consume.set_defaults(handler=_consume)


def _consume(args: argparse.Namespace) -> int:
    from audit.logging_setup import configure_logging
    from audit.wiring.collector import tune_collector
    from consumers.ingest import run, run_members

    configure_logging()
    tune_collector()
    if args.processes < 1:
        raise SystemExit("audit consume: --processes must be at least 1")
    if args.processes == 1:
        counts = run(load_settings(), until_idle=args.until_idle)
    else:
        counts = run_members(load_settings(), args.processes, until_idle=args.until_idle)
    if args.json:
        print(json.dumps(counts.as_dict()))
    else:
        print(
            f"consumed={counts.consumed} stored={counts.stored} "
            f"duplicates={counts.duplicates} rejected={counts.rejected} "
            f"retries={counts.retries}"
        )
    return 0
