"""Pure helpers of the incident services and their adapters."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.adapters.bundled_data import load_attributes, load_checklist_template
from audit.adapters.webhook import WebhookConfig
from audit.domain.checklists import DataFileError
from audit.domain.disclosure import ProcessType
from audit.errors import ConfigurationError
from audit.services.disclosures import parse_principals, parse_request_file
from audit.services.guarded_runner import minute_slot
from audit.wiring.incidents import aware_time

REQUEST = """\
intake:
  authority: Example County Sheriff
  agent: Det. R. Diaz
  channel: portal
  received_at: 2026-05-04T14:00:00Z
  reference: 2026-CR-114
  organization_ids: [org_7f3a]
  requested_data: login records of usr_19c2, April 2026
process_type: preservation
received_by: legal1
"""


def test_minute_slot_drops_seconds() -> None:
    now = datetime(2026, 11, 2, 9, 41, 59, 999_999, tzinfo=UTC)
    assert minute_slot(now) == datetime(2026, 11, 2, 9, 41, tzinfo=UTC)


def test_request_file_parses_into_intake_and_process() -> None:
    spec = parse_request_file(REQUEST, "req.yaml")
    assert spec.process_type is ProcessType.PRESERVATION
    assert spec.intake.received_at == datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
    assert spec.intake.organization_ids == ("org_7f3a",)


def test_request_file_errors_name_file_and_line() -> None:
    broken = REQUEST.replace("channel: portal", "channel: pigeon").replace(
        "process_type: preservation", "process_type: rumour"
    )
    with pytest.raises(DataFileError) as caught:
        parse_request_file(broken, "req.yaml")
    text = str(caught.value)
    assert "req.yaml:4: intake.channel" in text
    assert "req.yaml:9: process_type" in text


def test_request_file_refuses_naive_times_and_unknown_fields() -> None:
    naive = REQUEST.replace("2026-05-04T14:00:00Z", "2026-05-04T14:00:00") + "color: red\n"
    with pytest.raises(DataFileError) as caught:
        parse_request_file(naive, "req.yaml")
    assert "intake.received_at" in str(caught.value)
    assert "color" in str(caught.value)


def test_legal_principals_are_comma_separated() -> None:
    assert parse_principals(" ana@legal , ,ben@legal") == ("ana@legal", "ben@legal")
    assert parse_principals("") == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "ftp://x", "secret": "s"}, "must be http"),
        ({"url": "https://x", "secret": ""}, "AUDIT_WEBHOOK_SECRET"),
        ({"url": "https://x", "secret": "s", "format": "pagerduty"}, "ROUTING_KEY"),
    ],
)
def test_webhook_config_refuses_unsafe_or_incomplete(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        WebhookConfig(**kwargs)  # type: ignore[arg-type]


def test_bundled_attributes_and_templates_load() -> None:
    attributes = load_attributes(None)
    assert attributes.platform.nis2_entity is True
    assert "org_7f3a" in attributes.organizations
    assert load_checklist_template("incident_disclosure.v1").kind == "incident"
    assert load_checklist_template("lawful_request.v1").kind == "lawful_request"


def test_missing_attributes_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the organizations file"):
        load_attributes(tmp_path / "nope.yaml")


def test_cli_times_need_a_zone() -> None:
    assert aware_time("2026-11-02T09:00:00Z") == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="no time zone"):
        aware_time("2026-11-02T09:00:00")
    with pytest.raises(argparse.ArgumentTypeError, match="not an ISO 8601"):
        aware_time("yesterday")
