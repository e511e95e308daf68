"""``audit dlq list``: what sits in the dead-letter topic and why."""

from __future__ import annotations

import argparse
import json

from audit.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = sub.add_parser("dlq", help="the dead-letter topic")
    dlq_actions = dlq.add_subparsers(dest="dlq_action", required=True, metavar="ACTION")
    dlq_list = dlq_actions.add_parser("list", help="what sits in the dead-letter topic and why")
    dlq_list.add_argument("--limit", type=int, default=None)
    dlq_list.set_defaults(handler=_dlq_list)


def _dlq_list(args: argparse.Namespace) -> int:
    from audit.wiring.replay import dead_letters

    for letter in dead_letters(load_settings(), limit=args.limit):
        value = letter.value or b""
        print(
            json.dumps(
                {
                    "partition": letter.partition,
                    "offset": letter.offset,
                    "timestamp_ms": letter.timestamp_ms,
                    "key": letter.key.decode("utf-8", "replace")
                    if letter.key is not None
                    else None,
                    "error_type": letter.headers.get("error.type"),
                    "error_message": letter.headers.get("error.message"),
                    "source": {
                        "topic": letter.headers.get("source.topic"),
                        "partition": letter.headers.get("source.partition"),
                        "offset": letter.headers.get("source.offset"),
                    },
                    "value_bytes": len(value),
                    "value_preview": value[:200].decode("utf-8", "replace"),
                }
            )
        )
    return 0
