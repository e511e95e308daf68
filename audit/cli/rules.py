"""``audit rules validate|test``: check rule files, dry-run a rule on events.

Neither needs Kafka or Elasticsearch.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rules = sub.add_parser("rules", help="detection rules: validate files, dry-run on events")
    actions = rules.add_subparsers(dest="rules_action", required=True, metavar="ACTION")

    validate = actions.add_parser(
        "validate", help="check every rule file of DIR (default: the packaged rule pack)"
    )
    validate.add_argument("directory", nargs="?", metavar="DIR")
    validate.set_defaults(handler=_validate)

    test = actions.add_parser(
        "test", help="which detections RULE_ID raises on the events of a JSONL file (dry run)"
    )
    test.add_argument("rule_id", metavar="RULE_ID")
    test.add_argument("--events", required=True, type=Path, metavar="FILE.jsonl")
    test.add_argument("--rules", dest="directory", metavar="DIR", help="rule directory")
    test.add_argument(
        "--lateness", type=float, default=120.0, metavar="SECONDS", help="allowed lateness"
    )
    test.set_defaults(handler=_test)


def _validate(args: argparse.Namespace) -> int:
    from audit.domain.detection import RuleFileError
    from audit.wiring.rules import load_rules

    where = args.directory or "the packaged rule pack"
    try:
        rules = load_rules(args.directory)
    except RuleFileError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(f"{len(err.problems)} problem(s) in {where}", file=sys.stderr)
        return 1
    for rule in sorted(rules, key=lambda r: r.id):
        state = "" if rule.enabled else " (disabled)"
        print(f"{rule.id}\t{rule.type}\t{rule.severity.value}{state}")
    print(f"{len(rules)} rule(s) valid in {where}", file=sys.stderr)
    return 0


def _test(args: argparse.Namespace) -> int:
    from datetime import timedelta

    import orjson

    from audit.domain.detection import dry_run
    from audit.domain.event import normalize_message
    from audit.errors import ConfigurationError, EventRejected
    from audit.wiring.rules import load_rules

    rules = {rule.id: rule for rule in load_rules(args.directory)}
    rule = rules.get(args.rule_id)
    if rule is None:
        raise ConfigurationError(
            f"no rule {args.rule_id!r}; `audit rules validate` lists the rule ids"
        )
    if not args.events.is_file():
        raise ConfigurationError(f"{args.events} is not a file: pass a JSON-lines event file")
    # The receiving clock only bounds @timestamp (at most 24 h ahead).
    received_at = datetime.now(UTC)
    events = []
    rejected = 0
    with args.events.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                events.append(normalize_message(line.strip(), received_at=received_at))
            except EventRejected as err:
                rejected += 1
                print(f"{args.events}:{number}: rejected: {err}", file=sys.stderr)
    out = sys.stdout.buffer
    detections = dry_run([rule], events, lateness=timedelta(seconds=args.lateness))
    for detection in detections:
        out.write(orjson.dumps(detection.model_dump(mode="json")) + b"\n")
    out.flush()
    print(
        f"{rule.id}: {len(detections)} detection(s) from {len(events)} event(s)"
        f" ({rejected} rejected)",
        file=sys.stderr,
    )
    return 0
