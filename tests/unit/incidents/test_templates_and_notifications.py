import json
from datetime import timedelta
from pathlib import Path

import pytest

from audit.adapters.bundled_data import load_checklist_template
from audit.domain.checklists import (
    DataFileError,
    parse_attributes,
    parse_template,
)
from audit.domain.incidents import IncidentStatus, open_incident, transition
from audit.domain.notifications import (
    body_bytes,
    build_pagerduty_event,
    build_webhook_body,
    sign,
    verify_signature,
)

from .helpers import T0, detection

BAD = """\
id: broken
version: 1
kind: incident
title: t
items:
  - id: ok_item
    title: fine
    legal_basis: X
  - id: bad_item
    title: missing basis
    colour: blue
  - id: ok_item
    title: duplicate
    legal_basis: Y
    applies_when: {decision: ghost}
"""


def test_template_errors_name_file_and_line_and_are_all_collected() -> None:
    with pytest.raises(DataFileError) as err:
        parse_template(BAD, "broken.yaml")
    problems = err.value.problems
    assert any(p.startswith("broken.yaml:9:") and "legal_basis" in p for p in problems)
    assert any(p.startswith("broken.yaml:11:") and "colour" in p for p in problems)
    assert any(p.startswith("broken.yaml:12:") and "duplicate item id" in p for p in problems)
    assert any("unknown item 'ghost'" in p for p in problems)
    assert "broken.yaml" in str(err.value)


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(DataFileError, match=r"x\.yaml:4:"):
        parse_template("id: a\nversion: 1\nitems: [\n", "x.yaml")


def test_shipped_templates_cite_a_legal_basis_for_every_item() -> None:
    for name in ("incident_disclosure.v1", "lawful_request.v1"):
        template = load_checklist_template(name)
        assert all(item.legal_basis.strip() for item in template.items)
    incident = load_checklist_template("incident_disclosure.v1")
    assert len(incident.items) >= 13


def test_example_attributes_parse_and_bad_ones_name_the_line() -> None:
    path = Path(__file__).resolve().parents[3] / "audit/data/organizations.example.yaml"
    config = parse_attributes(path.read_text(), str(path))
    assert config.organizations["org_7f3a"].dora_financial_entity is True
    assert config.platform.sec_calendar.timezone == "America/New_York"
    bad = "version: 1\norganizations:\n  org_a:\n    jurisdictions: [California]\n"
    with pytest.raises(DataFileError, match=r"orgs\.yaml:4: .*ISO 3166"):
        parse_attributes(bad, "orgs.yaml")


def test_webhook_signature_verifies_and_detects_tampering() -> None:
    incident = open_incident(detection("d1", "high"), T0)
    body = build_webhook_body("incident.opened", incident, sent_for=T0)
    raw = body_bytes(body)
    signature = sign(raw, "s3cret")
    assert len(signature) == 64
    assert verify_signature(raw, "s3cret", "sha256=" + signature)
    assert not verify_signature(raw, "other", signature)
    tampered = json.loads(raw)
    tampered["incident"]["severity"] = "low"
    assert not verify_signature(body_bytes(tampered), "s3cret", signature)
    again = build_webhook_body("incident.opened", incident, sent_for=T0)
    assert body_bytes(again) == raw and again["id"] == body["id"]
    with pytest.raises(ValueError, match="empty"):
        sign(raw, "")


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ([], "trigger"),
        ([IncidentStatus.ACKNOWLEDGED], "acknowledge"),
        ([IncidentStatus.ACKNOWLEDGED, IncidentStatus.INVESTIGATING], "acknowledge"),
        (
            [
                IncidentStatus.ACKNOWLEDGED,
                IncidentStatus.INVESTIGATING,
                IncidentStatus.CONTAINED,
                IncidentStatus.RESOLVED,
            ],
            "resolve",
        ),
        ([IncidentStatus.FALSE_POSITIVE], "resolve"),
    ],
)
def test_pagerduty_action_follows_status(path, action) -> None:
    incident = open_incident(detection("d1", "critical"), T0)
    for step in path:
        incident = transition(incident, step, by="u", at=T0 + timedelta(minutes=1), why="x")
    event = build_pagerduty_event(incident, "rk")
    assert event["event_action"] == action
    assert event["dedup_key"] == incident.id
    assert ("payload" in event) is (action == "trigger")
    if action == "trigger":
        assert event["payload"]["severity"] == "critical"
