"""``audit rules validate|test`` without Kafka or Elasticsearch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from audit.cli import rules as rules_cli


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    rules_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.handler(args)


def test_validate_the_pack(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("rules", "validate") == 0
    assert "17 rule(s) valid" in capsys.readouterr().err


def test_validate_reports_file_and_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.yaml").write_text("type: match\nid: x.y\nseverity: urgent\n")
    assert _run("rules", "validate", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.yaml'}:3: severity:" in err
    assert f"{tmp_path / 'bad.yaml'}:1: name: Field required" in err


def test_rule_test_dry_run(tmp_path: Path, capsys) -> None:
    lines = []
    for i in range(3):
        lines.append(
            json.dumps(
                {
                    "@timestamp": f"2026-11-26T09:1{i}:00Z",
                    "event": {
                        "id": f"e{i}",
                        "action": "token.use",
                        "outcome": "failure",
                        "reason": "revoked",
                        "provider": "api-gateway",
                    },
                    "organization": {"id": "org_1"},
                    "elastra": {"token": {"id": "tok_1"}},
                }
            )
        )
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n")
    assert _run("rules", "test", "credential.revoked_use", "--events", str(events)) == 0
    out, err = capsys.readouterr()
    (detection,) = [json.loads(line) for line in out.splitlines()]
    assert detection["group_key"] == {"elastra.token.id": "tok_1"}
    assert detection["event_count"] == 3
    assert "1 detection(s) from 3 event(s)" in err
