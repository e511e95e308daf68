"""``audit digests sign``, ``audit verify``, ``audit export``: the tamper-evident
trail on the cluster (``audit verify-bundle`` checks an export offline).

``verify`` exits 1 on any finding; ``export`` prints the manifest summary on
stdout and its progress on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from audit.settings import load_settings

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: Sub) -> None:
    from audit.domain.export import PROFILES, ExportFormat
    from audit.wiring.incidents import aware_time

    digests = sub.add_parser("digests", help="signed integrity digests")
    actions = digests.add_subparsers(dest="digests_action", required=True, metavar="ACTION")
    sign = actions.add_parser("sign", help="sign what was stored since the last digest, now")
    sign.add_argument("--org", metavar="ORG", help="one organization (default: every one)")
    sign.set_defaults(handler=_sign)

    verify = sub.add_parser(
        "verify", help="re-read an organization's events and digests; exit 1 on any finding"
    )
    verify.add_argument("--org", required=True, metavar="ORG")
    verify.add_argument("--from", dest="time_from", type=aware_time, metavar="TIME")
    verify.add_argument("--to", dest="time_to", type=aware_time, metavar="TIME")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=_verify)

    export = sub.add_parser("export", help="export events as a signed, verifiable bundle")
    export.add_argument("--org", required=True, metavar="ORG")
    export.add_argument("--user", action="append", default=[], metavar="ID", help="repeatable")
    export.add_argument("--action", action="append", default=[], metavar="A", help="repeatable")
    export.add_argument("--from", dest="time_from", type=aware_time, metavar="TIME")
    export.add_argument("--to", dest="time_to", type=aware_time, metavar="TIME")
    export.add_argument("--format", required=True, choices=[f.value for f in ExportFormat])
    export.add_argument("--purpose", required=True, metavar="TEXT")
    export.add_argument("--redaction", default="none", choices=sorted(PROFILES))
    export.add_argument("--requester", required=True, metavar="WHO")
    export.add_argument("--out", required=True, type=Path, metavar="DIR")
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    export.set_defaults(handler=_export)


def _sign(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import print_json, utcnow
    from audit.wiring.trail import build_trail

    wiring = build_trail(load_settings())
    try:
        signer = wiring.signer()
        now = utcnow()
        outcomes = [signer.sign_org(args.org, now)] if args.org else signer.run_all(now)
        for outcome in outcomes:
            print_json(outcome.__dict__)
    finally:
        wiring.close()
    return 1 if any(o.status in {"stopped", "unreadable_digest"} for o in outcomes) else 0


def _verify(args: argparse.Namespace) -> int:
    from audit.wiring.incidents import print_json
    from audit.wiring.trail import build_trail

    wiring = build_trail(load_settings())
    try:
        report = wiring.verifier().verify(args.org, args.time_from, args.time_to)
    finally:
        wiring.close()
    if args.json:
        print_json(report.as_dict(), pretty=True)
    else:
        for finding in report.findings:
            print(finding)
        for erased in report.as_dict()["erased"]:
            print(f"erased under request {erased['request_id']}: {erased['events']} event(s)")
        span = f"seq {report.first_seq}..{report.last_seq}" if report.events else "no events"
        verdict = "verified, no findings" if report.ok else f"{len(report.findings)} finding(s)"
        print(
            f"{args.org}: {report.events} events ({span}), {report.digests} digests: {verdict}",
            file=sys.stdout if report.ok else sys.stderr,
        )
    return 0 if report.ok else 1


def _export(args: argparse.Namespace) -> int:
    from audit.cli.progress import ProgressBar
    from audit.domain.export import ExportFormat, profile
    from audit.services.export import ExportRequest
    from audit.wiring.incidents import print_json, utcnow
    from audit.wiring.trail import build_trail

    request = ExportRequest(
        organization_id=args.org,
        export_format=ExportFormat(args.format),
        purpose=args.purpose,
        requester=args.requester,
        redaction=profile(args.redaction),
        out_dir=args.out,
        user_ids=tuple(args.user),
        actions=tuple(args.action),
        time_from=args.time_from,
        time_to=args.time_to,
    )
    wiring = build_trail(load_settings())
    try:
        progress = None if args.quiet else ProgressBar("export")
        result = wiring.exporter().export(request, utcnow(), progress)
    finally:
        wiring.close()
    print_json({"bundle": str(args.out), **result.summary()})
    return 0
