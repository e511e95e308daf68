"""The ``audit`` command: thin; it parses, calls a service, renders.

Each area registers its sub-commands from its own module; a handler gets
the parsed arguments and returns the process exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from audit.errors import AuditError

# Modules under audit.cli that each define ``register(subparsers)``.
_COMMAND_MODULES = (
    "stack",
    "ingest",
    "replay",
    "dlq",
    "detect",
    "events",
    "demo",
    "rules",
    "incidents",
    "scheduler",
    "disclosure",
    "notifications",
    "dsr",
    "integrity",
    "retention",
    "trail",
    "api",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audit", description="elastra-audit: security event and incident audit service"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"audit.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except AuditError as err:
        print(f"audit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
