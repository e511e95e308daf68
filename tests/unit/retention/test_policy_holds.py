from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from audit.adapters.bundled_data import bundled_text
from audit.domain.legal.hold_requests import HoldRequest
from audit.domain.retention import (
    HoldScope,
    IndexState,
    LegalHold,
    RetentionPolicy,
    RetentionPolicyError,
    erasure_plan,
    hold_index_name,
    hold_query,
    index_name,
    parse_hold_index_name,
    parse_index_name,
    parse_policy,
)


def test_class_for_category_default_and_org_override(policy: RetentionPolicy) -> None:
    assert policy.class_for("authentication_security", None) == "standard"
    assert policy.class_for("authentication_security", "extended") == "extended"
    assert policy.class_for("organization_billing", "standard") == "extended"  # no override
    assert policy.class_for("not_a_category", None) == "standard"
    assert policy.class_for("customer_content", "bogus") == "standard"
    with pytest.raises(ValueError, match="choose standard, extended"):
        policy.check_org_setting("bogus")
    assert policy.is_shortening("extended", "standard")
    assert not policy.is_shortening("standard", "extended")


def test_policy_errors_name_file_and_line() -> None:
    text = bundled_text("retention/policy.yaml")
    broken = text.replace("warm_replicas: 0", "warm_replicas: -1").replace(
        "delete_after_days: 2557", "delete_after_days: 10"
    )
    with pytest.raises(RetentionPolicyError) as err:
        parse_policy(broken, "policy.yaml")
    problems = err.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("policy.yaml:14: settings.warm_replicas")
    assert problems[1].startswith("policy.yaml:") and "classes.extended" in problems[1]


def test_policy_cross_references_are_checked() -> None:
    text = bundled_text("retention/policy.yaml")
    broken = text.replace("[standard, extended]", "[standard, gold]").replace(
        "organization_billing: {default: extended", "organization_billing: {default: platinum"
    )
    with pytest.raises(RetentionPolicyError) as err:
        parse_policy(broken, "policy.yaml")
    text_of = "\n".join(err.value.problems)
    assert "org_selectable_classes.1: unknown class 'gold'" in text_of
    assert "categories.organization_billing.default: unknown class 'platinum'" in text_of


def test_index_names_round_trip() -> None:
    name = index_name("extended", date(2026, 11, 26))
    assert name == "audit-events-extended-2026.11.26"
    parsed = parse_index_name(name)
    assert parsed is not None and parsed.retention_class == "extended"
    assert parsed.day == date(2026, 11, 26)
    assert parse_index_name("audit-events-standard-2026.02.30") is None
    assert parse_index_name("audit-digests") is None
    assert hold_index_name("case-1") == "audit-holds-case-1"
    assert parse_hold_index_name("audit-holds-case-1") == "case-1"
    with pytest.raises(ValueError):
        hold_index_name("Case 1")


HOLD = LegalHold(
    id="case-9",
    scope=HoldScope(
        organization_ids=("org_a",),
        user_ids=("usr_1",),
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 2, 1, tzinfo=UTC),
        filters={"event.action": ("content.export", "logs.export")},
    ),
    created_by="legal@x",
    reason="preservation request",
    reference="REQ-9",
    created_at=datetime(2026, 2, 2, tzinfo=UTC),
    expires_at=datetime(2026, 5, 3, tzinfo=UTC),
)


def test_hold_query_selects_org_users_time_and_filters() -> None:
    assert hold_query(HOLD) == {
        "bool": {
            "filter": [
                {"terms": {"organization.id": ["org_a"]}},
                {
                    "range": {
                        "@timestamp": {"gte": "2026-01-01T00:00:00Z", "lt": "2026-02-01T00:00:00Z"}
                    }
                },
                {
                    "bool": {
                        "should": [
                            {"terms": {"user.id": ["usr_1"]}},
                            {"terms": {"user.target.id": ["usr_1"]}},
                        ],
                        "minimum_should_match": 1,
                    }
                },
                {"terms": {"event.action": ["content.export", "logs.export"]}},
            ]
        }
    }


def test_hold_matches_index_by_time_overlap_and_is_active_until_expiry() -> None:
    assert HOLD.matches_index(date(2026, 1, 1))
    assert HOLD.matches_index(date(2026, 1, 31))
    assert not HOLD.matches_index(date(2025, 12, 31))
    assert not HOLD.matches_index(date(2026, 2, 1))
    assert not HOLD.is_active(datetime(2026, 2, 1, tzinfo=UTC))  # before it was placed
    assert HOLD.is_active(datetime(2026, 5, 2, tzinfo=UTC))
    assert not HOLD.is_active(datetime(2026, 5, 3, tzinfo=UTC))  # expired


def test_hold_from_a_checklist_request() -> None:
    request = HoldRequest(
        hold_id="hold-abc",
        source="incident:inc-1",
        reason="incident",
        organization_ids=("org_a", "org_b"),
        entities={"user.id": ("usr_1",), "source.ip": ("198.51.100.23",)},
        data_categories=("authentication_security",),
        requested_at=datetime(2026, 3, 1, tzinfo=UTC),
        requested_by="ir@x",
    )
    hold = LegalHold.from_request(request)
    assert hold.scope.user_ids == ("usr_1",)
    assert hold.scope.filters == {
        "source.ip": ("198.51.100.23",),
        "elastra.data_category": ("authentication_security",),
    }
    assert hold.reference == "incident:inc-1"


def test_erasure_plan_excludes_held_documents_and_unblocks_then_reblocks() -> None:
    indices = [
        IndexState.event_index("audit-events-standard-2026.01.10"),
        IndexState.event_index(
            "audit-events-standard-2025.06.01", write_block=True, read_only=True, segments=1
        ),
        IndexState(name="audit-holds-case-9", retention_class="standard", day=date(2026, 1, 1)),
    ]
    result = erasure_plan("org_a", indices, [HOLD], datetime(2026, 3, 1, tzinfo=UTC))
    assert [t.index for t in result.targets] == [
        "audit-events-standard-2025.06.01",
        "audit-events-standard-2026.01.10",
    ]
    assert result.targets[0].unblock == ("read_only", "write")
    assert result.targets[0].reblock == ("write", "read_only")
    assert result.targets[1].unblock == ()
    assert result.held_by == ("case-9",)
    assert result.query["bool"]["filter"] == [{"term": {"organization.id": "org_a"}}]
    assert result.query["bool"]["must_not"] == [hold_query(HOLD)]
    other = erasure_plan("org_b", indices, [HOLD], datetime(2026, 3, 1, tzinfo=UTC))
    assert "must_not" not in other.query["bool"]
