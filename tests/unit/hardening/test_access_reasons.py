"""Issue 11 item 13: a 429 is audited with a reason of its own, not ``error``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audit.api.access_log import AccessFacts, RequestRecord, build_event
from audit.api.principal import Principal, Role


def facts(status: int) -> AccessFacts:
    return AccessFacts(
        principal=Principal("ana", frozenset({Role.COMPLIANCE}), frozenset({"org_a"}), "jwt"),
        action="export.create",
        resource_type="export",
        method="POST",
        route="/v1/exports",
        status=status,
        path_params={},
        query=[],
        client_ip="127.0.0.1",
        user_agent="test",
        request_id="req-1",
        record=RequestRecord(organization_id="org_a"),
    )


@pytest.mark.parametrize(
    ("status", "reason"),
    [(429, "too_many_requests"), (413, "too_large"), (409, "conflict"), (500, "error")],
)
def test_each_refusal_is_audited_with_its_reason(status: int, reason: str) -> None:
    event = build_event(facts(status), "platform", datetime(2026, 1, 1, tzinfo=UTC))
    assert event["event"]["outcome"] == "failure"
    assert event["event"]["reason"] == reason
