"""``audit verify-bundle DIR``: check an export bundle offline, with no cluster.

Exit status 0 when the bundle verifies, 1 on any finding. ``--key PEM``
pins the public key(s) the bundle must be signed with (the published key),
instead of trusting the key shipped inside the bundle.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    verify = sub.add_parser(
        "verify-bundle",
        help="verify an export bundle offline (file hashes, signatures, hash chain)",
    )
    verify.add_argument("directory", metavar="DIR", type=Path, help="the bundle directory")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.add_argument(
        "--key",
        type=Path,
        metavar="PEM",
        help="trusted public key file (one or more PEM keys); default: the bundle's own",
    )
    verify.set_defaults(handler=verify_bundle_command)


def verify_bundle_command(args: argparse.Namespace) -> int:
    from audit.domain.integrity import load_public_keys
    from audit.services.bundle import verify_bundle

    directory: Path = args.directory
    if not directory.is_dir():
        print(f"audit: error: {directory} is not a directory", file=sys.stderr)
        return 2
    trusted = load_public_keys(args.key.read_bytes()) if args.key is not None else None
    findings = verify_bundle(directory, trusted)
    if args.json:
        report = {
            "bundle": str(directory),
            "ok": not findings,
            "findings": [finding.model_dump(mode="json") for finding in findings],
        }
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    elif findings:
        for finding in findings:
            print(finding)
        print(f"{directory}: {len(findings)} finding(s)", file=sys.stderr)
    else:
        print(f"{directory}: verified, no findings")
    return 1 if findings else 0
