"""``audit export`` from the real node: bundles that ``verify-bundle`` accepts
offline, that fail when edited, with CSV cells neutralised."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from audit.cli import integrity as integrity_cli
from audit.cli import trail as trail_cli
from audit.domain.export import Manifest
from audit.domain.integrity import FindingKind
from audit.services.bundle import verify_bundle
from tests.integration.trail_support import T0, Trail, store_chain, trail

pytestmark = pytest.mark.integration
__all__ = ["trail"]

ORG = "org_exp"


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    trail_cli.register(sub)
    integrity_cli.register(sub)
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


def export(out: Path, *extra: str) -> int:
    return cli(
        "export",
        "--org",
        ORG,
        "--purpose",
        "DSAR-42 access request",
        "--requester",
        "dpo@elastra.example",
        "--out",
        str(out),
        *extra,
    )


def manifest(out: Path) -> Manifest:
    return Manifest.model_validate_json((out / "manifest.json").read_bytes())


def test_user_export_verifies_offline_and_an_edit_fails(
    trail: Trail, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = store_chain(trail.es, trail.prefix, ORG, 120)
    out = tmp_path / "dsar"
    status = export(
        out,
        "--format",
        "ndjson",
        "--user",
        "usr_2",
        "--from",
        (T0 + timedelta(seconds=10)).isoformat(),
        "--to",
        (T0 + timedelta(seconds=100)).isoformat(),
    )
    assert status == 0
    summary = orjson.loads(capsys.readouterr().out)
    lines = (out / "events-0001.ndjson").read_bytes().splitlines()
    events = [orjson.loads(line) for line in lines]
    seqs = [e["integrity"]["seq"] for e in events]
    expected = [s for s in range(10, 100) if s % 5 == 2]
    assert seqs == expected and summary["events"] == len(expected)
    assert {e["user"]["id"] for e in events} == {"usr_2"}
    m = manifest(out)
    assert (m.requester, m.purpose, m.event_count) == (
        "dpo@elastra.example",
        "DSAR-42 access request",
        len(expected),
    )
    assert m.query["user_ids"] == ["usr_2"] and m.verification.value == "full"
    # Exporting signed what was pending: the digests cover the exported range.
    digests = orjson.loads((out / "digests.json").read_bytes())
    assert digests[0]["first_seq"] <= expected[0] and digests[-1]["last_seq"] >= expected[-1]
    assert digests[-1]["head_hash"] == head.hash
    assert verify_bundle(out) == []
    assert cli("verify-bundle", str(out)) == 0
    # One edited byte in a data file: the bundle fails, naming the file.
    data = out / "events-0001.ndjson"
    data.write_bytes(data.read_bytes().replace(b'"usr_2"', b'"usr_3"', 1))
    findings = verify_bundle(out)
    assert (FindingKind.FILE_MODIFIED, "events-0001.ndjson") in {(f.kind, f.file) for f in findings}
    capsys.readouterr()
    assert cli("verify-bundle", str(out)) == 1


def test_csv_export_neutralises_formulas_and_verifies(
    trail: Trail, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_chain(trail.es, trail.prefix, ORG, 30)
    out = tmp_path / "csv"
    assert (
        export(out, "--format", "csv", "--action", "user.login", "--redaction", "no_network") == 0
    )
    capsys.readouterr()
    text = (out / "events-0001.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == sum(1 for s in range(1, 31) if s % 4)
    assert {r["event.action"] for r in rows} == {"user.login"}
    # no_network drops source and user agent: the formula cells are gone ...
    assert all(r["source.ip"] == "" and r["user_agent.original"] == "" for r in rows)
    assert manifest(out).verification.value == "linkage"
    assert verify_bundle(out) == []
    # ... and without redaction they are written as text, never as formulas.
    full = tmp_path / "csv-full"
    assert export(full, "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO((full / "events-0001.csv").read_text("utf-8"))))
    agents = [r["user_agent.original"] for r in rows]
    formulas = [a for a in agents if "HYPERLINK" in a]
    assert formulas and all(a.startswith("'=") for a in formulas)
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
    assert verify_bundle(full) == []


def test_export_of_nothing_is_an_empty_valid_bundle(
    trail: Trail, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_chain(trail.es, trail.prefix, ORG, 5)
    out = tmp_path / "none"
    assert export(out, "--format", "ndjson", "--user", "usr_nobody", "--quiet") == 0
    assert orjson.loads(capsys.readouterr().out)["events"] == 0
    assert verify_bundle(out) == []
