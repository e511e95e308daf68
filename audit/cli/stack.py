"""``audit stack up|down|status``: the local single-node Kafka and Elasticsearch."""

from __future__ import annotations

import argparse
import json

from audit.stack.layout import StackLayout
from audit.stack.manager import LocalStack, ServerStatus


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("stack", help="run a local single-node Kafka and Elasticsearch")
    actions = parser.add_subparsers(dest="stack_action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="download (once), start and wait until healthy")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for health")
    up.set_defaults(handler=_up)
    down = actions.add_parser("down", help="stop both servers by their recorded pids")
    down.set_defaults(handler=_down)
    status = actions.add_parser("status", help="versions, addresses, pids, health, logs")
    status.add_argument("--json", action="store_true", help="one JSON object per server")
    status.set_defaults(handler=_status)


def _up(args: argparse.Namespace) -> int:
    statuses = LocalStack(StackLayout.from_env()).up(timeout=args.timeout)
    _print(statuses, as_json=False)
    return 0


def _down(args: argparse.Namespace) -> int:
    LocalStack(StackLayout.from_env()).down()
    print("stopped")
    return 0


def _status(args: argparse.Namespace) -> int:
    statuses = LocalStack(StackLayout.from_env()).status()
    _print(statuses, as_json=args.json)
    return 0 if all(s.healthy for s in statuses) else 1


def _print(statuses: list[ServerStatus], *, as_json: bool) -> None:
    for s in statuses:
        if as_json:
            print(json.dumps(s.as_dict()))
        else:
            state = "healthy" if s.healthy else ("running, not healthy" if s.pid else "stopped")
            print(f"{s.name:28} {s.address:24} pid={s.pid or '-':<8} {state:22} log={s.log}")
