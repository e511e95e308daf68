"""Lawful disclosure requests and the CLI commands on the real node."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.cli import disclosure, incidents
from audit.domain.disclosure import DisclosureRefused
from audit.errors import AuditError
from audit.services.disclosures import AlreadyRecorded
from audit.wiring.incidents import build_disclosures

from ..unit.services.test_incident_helpers import REQUEST
from .incident_support import (  # noqa: F401 - incident_env is a fixture
    T0,
    IncidentEnv,
    attack_chain,
    incident_env_fixture,
)

pytestmark = pytest.mark.integration


def test_preservation_request_hold_clock_approvals_and_report(
    incident_env: IncidentEnv, tmp_path: Path
) -> None:
    settings = incident_env.settings(legal_principals="ana@legal,ben@legal")
    wiring = incident_env.wiring()
    service = build_disclosures(settings, wiring.client)
    request_file = tmp_path / "request.yaml"
    request_file.write_text(REQUEST)
    received = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
    now = received + timedelta(hours=1)

    request, hold = service.new(request_file, now)
    assert hold is not None and hold.source == f"disclosure:{request.id}"
    assert request.hold_id == hold.hold_id
    with pytest.raises(AlreadyRecorded):
        service.new(request_file, now)

    view = service.show(request.id, now)
    assert view["clocks"]["preservation_expires_at"] == "2026-08-02T14:00:00Z"  # 90 days
    items = {i["item_id"]: i for i in view["checklist"]}
    assert items["preservation_hold"]["status"] == "done"
    assert view["next_steps"][0] == "verify"

    service.decide(
        request.id,
        "legal_review_scope",
        answer="as_requested",
        rationale="narrow already",
        by="ana@legal",
        now=now,
    )
    with pytest.raises(AuditError, match="answer 'maybe' is not allowed"):
        service.decide(
            request.id, "legal_review_scope", answer="maybe", rationale="x", by="ana@legal", now=now
        )
    with pytest.raises(DisclosureRefused, match="map the data first"):
        service.approve(request.id, by="ana@legal", now=now)
    service.map(
        request.id,
        data_categories=["authentication_security"],
        organization_ids=["org_7f3a"],
        by="eng@platform",
        now=now,
    )
    with pytest.raises(DisclosureRefused, match="not a legal principal"):
        service.approve(request.id, by="eve@eng", now=now)
    service.approve(request.id, by="ana@legal", now=now)
    with pytest.raises(DisclosureRefused, match="already approved"):
        service.approve(request.id, by="ana@legal", now=now)
    approved = service.approve(request.id, by="ben@legal", now=now)
    assert approved.approved
    assert [h.action for h in approved.history] == [
        "received",
        "hold_requested",
        "decision_recorded",
        "data_mapped",
        "approved",
        "approved",
    ]

    report = service.report(2026)
    assert (report.total, report.by_process_type) == (1, {"preservation": 1})
    assert report.by_outcome == {"open": 1}
    assert service.report(2025).total == 0


def run_cli(module: object, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="audit")
    module.register(parser.add_subparsers(dest="command", required=True))  # type: ignore[attr-defined]
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


def test_cli_commands_print_json(
    incident_env: IncidentEnv,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for key, value in incident_env.env().items():
        monkeypatch.setenv(key, value)
    wiring = incident_env.wiring()
    for det in attack_chain():
        wiring.detections.put(det)
    wiring.detections.refresh()

    assert run_cli(incidents, ["detections", "list", "--json", "--rule", "data.mass_export"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["det-export"]

    assert run_cli(incidents, ["incidents", "sync", "--since", T0.isoformat()]) == 0
    assert json.loads(capsys.readouterr().out) == {"joined": 3, "opened": 1}

    assert run_cli(incidents, ["incidents", "list", "--json", "--org", "org_7f3a"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    incident_id = json.loads(line)["id"]

    assert run_cli(incidents, ["incidents", "assign", incident_id, "dana", "--by", "lead"]) == 0
    assert json.loads(capsys.readouterr().out)["assignee"] == "dana"
    with pytest.raises(AuditError, match="cannot go from open to resolved"):
        run_cli(
            incidents,
            [
                "incidents",
                "transition",
                incident_id,
                "resolved",
                "--by",
                "dana",
                "--note",
                "too early",
            ],
        )
    assert (
        run_cli(
            incidents,
            [
                "checklist",
                "decide",
                incident_id,
                "personal_data_involved",
                "--answer",
                "yes",
                "--rationale",
                "logins",
                "--by",
                "dpo",
            ],
        )
        == 0
    )
    capsys.readouterr()
    assert run_cli(incidents, ["incidents", "show", incident_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["assignee"] == "dana"
    assert any(i["item_id"] == "breach_register" and i["applicable"] for i in shown["checklist"])

    monkeypatch.setenv("AUDIT_LEGAL_PRINCIPALS", "ana@legal")
    request_file = tmp_path / "request.yaml"
    request_file.write_text(REQUEST)
    assert run_cli(disclosure, ["disclosure", "new", "--file", str(request_file)]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["hold_request"]["hold_id"] == created["request"]["hold_id"]
    request_id = created["request"]["id"]
    mapped = ["disclosure", "map", request_id, "--by", "eng", "--categories", "account"]
    assert run_cli(disclosure, [*mapped, "--orgs", "org_7f3a"]) == 0
    assert json.loads(capsys.readouterr().out)["mapping"]["organization_ids"] == ["org_7f3a"]
    assert run_cli(disclosure, ["disclosure", "approve", request_id, "--by", "ana@legal"]) == 0
    assert len(json.loads(capsys.readouterr().out)["approvals"]) == 1
    with pytest.raises(AuditError, match="already approved"):
        run_cli(disclosure, ["disclosure", "approve", request_id, "--by", "ana@legal"])
    assert run_cli(disclosure, ["disclosure", "report", "--year", "2026"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 1


def test_every_disclosure_step_through_the_cli(
    incident_env: IncidentEnv,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    tag = incident_env.tag
    for key, value in {
        **incident_env.env(),
        "AUDIT_LEGAL_PRINCIPALS": "ana@legal,ben@legal",
        "AUDIT_INDEX_PREFIX": f"t{tag}-events",
        "AUDIT_DIGEST_INDEX": f"t{tag}-digests",
        "AUDIT_DIGEST_KEY_DIR": str(tmp_path / "keys"),
        "AUDIT_HOLD_INDEX": f"t{tag}-legal-holds",
        "AUDIT_HOLD_COPY_PREFIX": f"t{tag}-holds",
        "AUDIT_ORG_SETTINGS_INDEX": f"t{tag}-org-settings",
        "AUDIT_API_EXPORT_DIR": str(tmp_path / "exports"),
    }.items():
        monkeypatch.setenv(key, value)
    received = datetime.now(UTC).replace(microsecond=0).isoformat()

    def new(process: str, ref: str) -> str:
        path = tmp_path / f"{ref}.yaml"
        path.write_text(
            REQUEST.replace("2026-05-04T14:00:00Z", received)
            .replace("preservation", process)
            .replace("2026-CR-114", ref)
        )
        assert run_cli(disclosure, ["disclosure", "new", "--file", str(path)]) == 0
        return str(json.loads(capsys.readouterr().out)["request"]["id"])

    def step(*argv: str) -> dict[str, object]:
        assert run_cli(disclosure, ["disclosure", *argv]) == 0
        result: dict[str, object] = json.loads(capsys.readouterr().out)
        return result

    rid = new("emergency", "EM-CLI")
    with pytest.raises(DisclosureRefused, match="emergency request is produced only after"):
        run_cli(disclosure, ["disclosure", "produce", rid, "--by", "ana@legal"])
    step("verify", rid, "--by", "ana@legal", "--contact", "+1 555", "--source", "sheriff site")
    step("review", rid, "--by", "ana@legal", "--outcome", "accept", "--reason", "imminent")
    step("map", rid, "--by", "eng", "--categories", "account", "--orgs", "org_7f3a")
    step("approve", rid, "--by", "ana@legal")
    step("approve", rid, "--by", "ben@legal")
    produced = step("produce", rid, "--by", "ben@legal", "--purpose", "emergency EM-CLI")
    bundles = produced["production"]["bundles"]  # type: ignore[index]
    assert [b["organization_id"] for b in bundles] == ["org_7f3a"]
    expiry = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    step("ndo", rid, "--by", "ana@legal", "--expires", expiry, "--issuer", "court")
    step("notice", rid, "--by", "ana@legal", "--status", "deferred", "--reason", "NDO")
    step("preserve", rid, "--by", "ana@legal", "--why", "follow-up expected")
    closed = step("close", rid, "--by", "ana@legal", "--outcome", "disclosed")
    actions = [h["action"] for h in closed["history"]]  # type: ignore[union-attr]
    assert actions[-3:] == ["hold_requested", "closed", "hold_released"]

    pid = new("preservation", "PRES-CLI")
    step("map", pid, "--by", "eng", "--categories", "customer_content", "--orgs", "org_7f3a")
    step("redirect", pid, "--by", "ana@legal", "--outcome", "requester_insists")
    renewed = step("renew", pid, "--by", "ana@legal", "--why", "renewed letter")
    assert renewed["preservation_renewals"] == 1
    report = step("report", "--year", str(datetime.now(UTC).year))
    assert report["produced"] == 1 and report["preserved"] == 2
