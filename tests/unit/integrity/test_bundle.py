from __future__ import annotations

import argparse
import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from audit.cli import integrity as integrity_cli
from audit.domain.export import PROFILES, ExportFormat, Verification, neutralize_cell, restore_cell
from audit.domain.integrity import (
    FindingKind,
    SigningKey,
    generate_signing_key,
    link_of,
    public_key_pem,
)
from audit.services.bundle import BundleError, BundleWriter, verify_bundle
from tests.unit.integrity.conftest import ORG, build_chain, build_digests

USER = "usr_19c2"


def write_bundle(
    out: Path,
    key: SigningKey,
    export_format: ExportFormat = ExportFormat.NDJSON,
    redaction: str = "none",
    events_per_file: int = 100,
) -> tuple[Any, list[dict[str, Any]]]:
    chain = build_chain(20)
    digests = build_digests(chain, key, every=5)
    selected = [d for d in chain if d["user"]["id"] == USER]
    writer = BundleWriter(
        out,
        export_format=export_format,
        redaction=PROFILES[redaction],
        events_per_file=events_per_file,
    )
    for document in selected:
        writer.write(document)
    links = [link_of(d) for d in chain]
    manifest = writer.finish(
        chain=[link for link in links if link is not None],
        digests=digests,
        public_keys_pem=public_key_pem(key.public_key),
        key=key,
        organization_id=ORG,
        query={"bool": {"filter": [{"term": {"user.id": USER}}]}},
        time_from=datetime(2026, 11, 26, tzinfo=UTC),
        time_to=datetime(2026, 11, 27, tzinfo=UTC),
        requester="dpo@elastra.example",
        purpose="data subject access request DSAR-42",
        exported_at=datetime(2026, 11, 28, 10, tzinfo=UTC),
    )
    return manifest, selected


def test_untouched_full_bundle_verifies(tmp_path: Path, key: SigningKey) -> None:
    manifest, selected = write_bundle(tmp_path, key, events_per_file=4)
    assert manifest.verification is Verification.FULL
    assert manifest.event_count == len(selected) == 10
    assert [f.name for f in manifest.data_files()] == [
        "events-0001.ndjson",
        "events-0002.ndjson",
        "events-0003.ndjson",
    ]
    assert verify_bundle(tmp_path) == []
    assert verify_bundle(tmp_path, {key.key_id: key.public_key}) == []


def test_edited_data_file_fails_naming_it(tmp_path: Path, key: SigningKey) -> None:
    write_bundle(tmp_path, key)
    data = tmp_path / "events-0001.ndjson"
    data.write_bytes(data.read_bytes().replace(b'"outcome":"failure"', b'"outcome":"success"', 1))
    findings = verify_bundle(tmp_path)
    assert (FindingKind.FILE_MODIFIED, "events-0001.ndjson") in {(f.kind, f.file) for f in findings}
    modified = [f for f in findings if f.kind is FindingKind.MODIFIED]
    assert modified and modified[0].event_id == "ev-00001"


def test_edited_chain_proof_manifest_and_extra_file_are_named(
    tmp_path: Path, key: SigningKey
) -> None:
    write_bundle(tmp_path, key)
    proof = tmp_path / "chain.ndjson"
    lines = proof.read_bytes().splitlines(keepends=True)
    proof.write_bytes(b"".join(lines[:3] + lines[4:]))  # drop seq 4
    (tmp_path / "notes.txt").write_text("hello")
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b"DSAR-42", b"DSAR-43"))
    found = {(f.kind, f.file) for f in verify_bundle(tmp_path)}
    assert (FindingKind.FILE_MODIFIED, "chain.ndjson") in found
    assert (FindingKind.DELETED, "chain.ndjson") in found
    assert (FindingKind.FILE_UNEXPECTED, "notes.txt") in found
    assert (FindingKind.BAD_SIGNATURE, "manifest.json") in found


def test_bundle_signed_by_another_key_fails_when_the_key_is_pinned(
    tmp_path: Path, key: SigningKey
) -> None:
    other = generate_signing_key()
    write_bundle(tmp_path, other)
    assert verify_bundle(tmp_path) == []  # consistent in itself...
    found = verify_bundle(tmp_path, {key.key_id: key.public_key})
    assert {f.kind for f in found} >= {FindingKind.UNKNOWN_KEY}  # ...but not ours


def test_redacted_csv_bundle_verifies_by_linkage_and_neutralizes_cells(
    tmp_path: Path, key: SigningKey
) -> None:
    manifest, _ = write_bundle(tmp_path, key, ExportFormat.CSV, redaction="no_network")
    assert manifest.verification is Verification.LINKAGE
    assert verify_bundle(tmp_path) == []
    with (tmp_path / "events-0001.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    assert rows[0]["source.ip"] == "" and rows[0]["user_agent.original"] == ""
    assert rows[0]["user.id"] == USER and rows[0]["integrity.seq"] == "1"


def test_csv_formula_cells_are_neutralized(tmp_path: Path, key: SigningKey) -> None:
    write_bundle(tmp_path, key, ExportFormat.CSV)
    with (tmp_path / "events-0001.csv").open(newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert row["user_agent.original"] == "'=cmd|' /C calc'!A0"
    assert row["source.geo.location"] == '{"lat":48.85,"lon":2.35}'
    assert row["source.as.number"] == "64501"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
        ("+1", "'+1"),
        ("-1+1", "'-1+1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralize_cell(cell: str, expected: str) -> None:
    assert neutralize_cell(cell) == expected
    assert restore_cell(neutralize_cell(cell)) == cell


def test_writer_refuses_out_of_order_events_and_non_empty_directory(
    tmp_path: Path, key: SigningKey
) -> None:
    chain = build_chain(3)
    writer = BundleWriter(tmp_path, export_format=ExportFormat.NDJSON, redaction=PROFILES["none"])
    writer.write(chain[1])
    with pytest.raises(BundleError):
        writer.write(chain[0])
    with pytest.raises(BundleError):
        BundleWriter(tmp_path, export_format=ExportFormat.NDJSON, redaction=PROFILES["none"])


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="audit")
    integrity_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


def test_cli_verify_bundle_exit_status_and_json(
    tmp_path: Path, key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    write_bundle(tmp_path, key)
    assert _run_cli(["verify-bundle", str(tmp_path)]) == 0
    (tmp_path / "events-0001.ndjson").write_bytes(b"{}\n")
    capsys.readouterr()
    assert _run_cli(["verify-bundle", str(tmp_path), "--json"]) == 1
    report = orjson.loads(capsys.readouterr().out)
    assert report["ok"] is False
    found = {(f["kind"], f["file"]) for f in report["findings"]}
    assert ("file_modified", "events-0001.ndjson") in found
