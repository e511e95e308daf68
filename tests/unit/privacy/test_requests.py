"""Data-subject requests: the subject, the clocks and the lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from audit.domain.privacy.requests import DataSubjectRequest, Decision, Status, Subject

RECEIVED = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


def request(**overrides: Any) -> DataSubjectRequest:
    data: dict[str, Any] = {
        "id": "dsr_1",
        "right": "erasure",
        "law": "gdpr",
        "subject": {"user_id": "usr_1"},
        "verification": {"method": "email code", "verified_by": "desk"},
        "received_at": RECEIVED,
        "received_by": "privacy@elastra",
    }
    data.update(overrides)
    return DataSubjectRequest.model_validate(data)


def test_gdpr_one_month_then_two_more_with_reasons_told_in_time() -> None:
    gdpr = request()
    assert gdpr.due_at == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)  # clamped month end
    extended = gdpr.extend("thousands of events to review", RECEIVED + timedelta(days=20), "dpo")
    assert extended.due_at == datetime(2026, 4, 30, 10, 0, tzinfo=UTC)
    assert extended.history[-1]["what"] == "extended"
    with pytest.raises(ValueError, match="already extended"):
        extended.extend("again and again", RECEIVED, "dpo")
    with pytest.raises(ValueError, match=r"Art\. 12\(3\)"):
        gdpr.extend("too late to tell them", RECEIVED + timedelta(days=40), "dpo")


def test_ccpa_45_days_extendable_by_45() -> None:
    ccpa = request(law="ccpa")
    assert ccpa.due_at == RECEIVED + timedelta(days=45)
    told = RECEIVED + timedelta(days=44)
    assert ccpa.extend("reasonably necessary", told, "dpo").due_at == RECEIVED + timedelta(days=90)
    with pytest.raises(ValueError, match=r"1798\.130"):
        ccpa.extend("reasonably necessary", RECEIVED + timedelta(days=46), "dpo")


def test_subject_needs_one_identifier_and_an_ip_a_time_range() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        Subject(user_id="u", email="a@b.example")
    with pytest.raises(ValidationError, match="time_from and time_to"):
        Subject(ip="203.0.113.7")
    ip = Subject(ip="203.0.113.7", time_from=RECEIVED, time_to=RECEIVED + timedelta(hours=1))
    inside = {"@timestamp": "2026-01-31T10:30:00Z", "source": {"ip": "203.0.113.7"}}
    assert ip.concerns(inside, None)
    assert not ip.concerns({**inside, "@timestamp": "2026-01-31T11:00:00Z"}, None)
    target = {"user": {"id": "admin", "target": {"id": "u"}}, "organization": {"id": "o"}}
    assert Subject(user_id="u").concerns(target, "o")
    assert not Subject(user_id="u").concerns(target, "other")


def test_lifecycle_decide_once_execute_approved_only() -> None:
    received = request(right="restriction")
    with pytest.raises(ValueError, match="only an approved"):
        received.executed("dpo", RECEIVED, {})
    decision = Decision(approved=True, by="dpo", at=RECEIVED)
    approved = received.decide(decision)
    assert approved.status is Status.APPROVED
    with pytest.raises(ValueError, match="decided already"):
        approved.decide(decision)
    executed = approved.executed("dpo", RECEIVED, {"flagged": 3})
    lifted = executed.lifted("dpo", RECEIVED, "objection withdrawn")
    assert lifted.status is Status.LIFTED and lifted.history[-1]["note"] == "objection withdrawn"
    stored = DataSubjectRequest.from_stored(lifted.as_dict())
    assert stored == lifted
    with pytest.raises(ValidationError, match="states the correction"):
        request(right="rectification")
