"""The event contract (EVENTS.md v1): what is accepted, rejected and stored."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from audit.domain.event import (
    REJECTION_TYPES,
    NormalizedEvent,
    normalize_document,
    normalize_message,
    validate_fields,
)
from audit.errors import EventRejected

RECEIVED = datetime(2026, 11, 26, 9, 15, 0, tzinfo=UTC)

BASE: dict[str, Any] = {
    "@timestamp": "2026-11-26T09:14:03.120Z",
    "event": {
        "id": "01JDX3W6K2Q0M9ZC1P7R5T8V2A",
        "action": "user.login",
        "outcome": "failure",
        "reason": "bad_password",
        "provider": "auth-service",
    },
    "organization": {"id": "org_7f3a"},
    "user": {"id": "usr_19c2", "name": "dana@acme.example"},
    "source": {"ip": "198.51.100.23", "geo": {"country_iso_code": "FR"}, "as": {"number": 64501}},
    "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64)"},
}


DROP = object()


def with_path(path: str, value: Any, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of ``doc`` (BASE) with the dotted ``path`` set, or removed if ``DROP``."""
    doc = copy.deepcopy(BASE if doc is None else doc)
    parts = [path] if path == "@timestamp" else path.split(".")
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value is DROP:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return doc


def event(**changes: Any) -> dict[str, Any]:
    """BASE with several dotted paths set: ``event(**{"user.id": "u"})``."""
    doc = copy.deepcopy(BASE)
    for path, value in changes.items():
        doc = with_path(path, value, doc)
    return doc


def accept(doc: Any, received_at: datetime = RECEIVED) -> NormalizedEvent:
    return normalize_message(orjson.dumps(doc), received_at=received_at)


def reject(doc: Any, received_at: datetime = RECEIVED) -> EventRejected:
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    with pytest.raises(EventRejected) as info:
        normalize_message(raw, received_at=received_at)
    assert info.value.error_type in REJECTION_TYPES
    return info.value


# --------------------------------------------------------------------------
# the happy path


def test_contract_example_is_accepted_and_normalized() -> None:
    result = accept(BASE)
    assert result.event_id == "01JDX3W6K2Q0M9ZC1P7R5T8V2A"
    assert result.organization_id == "org_7f3a"
    assert result.action == "user.login"
    assert result.outcome == "failure"
    assert result.timestamp == datetime(2026, 11, 26, 9, 14, 3, 120000, tzinfo=UTC)
    assert result.data_category == "authentication_security"
    doc = result.document
    assert doc["@timestamp"] == "2026-11-26T09:14:03.120Z"
    assert doc["event"]["category"] == ["authentication"]
    assert doc["event"]["type"] == ["start"]
    assert doc["event"]["ingested"] == "2026-11-26T09:15:00.000Z"
    assert doc["elastra"]["data_category"] == "authentication_security"
    assert doc["source"]["as"]["number"] == 64501
    assert result.get("source.geo.country_iso_code") == "FR"


def test_second_contract_example_is_customer_content() -> None:
    doc = {
        "@timestamp": "2026-11-26T09:20:41Z",
        "event": {
            "id": "b8a8e7de-5c55-4d0f-9d6c-7f3a1e2c4b10",
            "action": "resource.access",
            "outcome": "failure",
            "reason": "cross_tenant",
            "provider": "content-service",
        },
        "organization": {"id": "org_7f3a"},
        "user": {"id": "usr_19c2"},
        "source": {"ip": "198.51.100.23"},
        "elastra": {
            "resource": {"type": "memory_entry", "id": "mem_88", "organization_id": "org_0b1d"}
        },
    }
    result = accept(doc)
    assert result.data_category == "customer_content"
    assert result.document["elastra"]["resource"]["organization_id"] == "org_0b1d"
    assert result.document["event"]["category"] == ["api"]


def test_every_optional_field_accepted_with_its_type() -> None:
    doc = event(
        **{
            "organization.name": "Acme",
            "user.email": "dana@acme.example",
            "user.roles": ["admin", "member"],
            "user.target.id": "usr_2",
            "user.target.name": "sam",
            "source.ip": "2001:db8::1",
            "source.geo.city_name": "Paris",
            "source.geo.location": {"lat": -90, "lon": 180.0},
            "source.as.organization.name": "Example ISP",
            "elastra.session.id": "s",
            "elastra.token.id": "t",
            "elastra.api_key.id": "k",
            "elastra.device.id": "d",
            "elastra.mfa.method": "webauthn",
            "elastra.sso.protocol": "oidc",
            "elastra.sso.idp": "okta",
            "elastra.role": "admin",
            "elastra.resource.type": "dashboard",
            "elastra.resource.id": "r1",
            "elastra.resource.organization_id": "org_7f3a",
            "elastra.records": 0,
            "elastra.bytes": 2**63 - 1,
            "elastra.retention": {"class": "standard", "days_before": 90, "days_after": 30},
            "elastra.request.id": "req",
            "elastra.stage": "requested",
            "event.category": ["authentication"],
            "event.type": ["start"],
        }
    )
    result = accept(doc)
    assert result.document["elastra"]["retention"] == {
        "class": "standard",
        "days_before": 90,
        "days_after": 30,
    }
    fields = validate_fields(copy.deepcopy(doc))
    assert fields["source"] is not None and fields["source"]["geo"] is not None
    location = fields["source"]["geo"]["location"]
    assert location is not None and location["lat"] == -90
    assert fields["elastra"] is not None and fields["elastra"]["bytes"] == 2**63 - 1


def test_validated_fields_are_a_copy_without_extras() -> None:
    doc = event(**{"user.extra": "kept in the document", "shoe_size": 44})
    fields = validate_fields(doc)
    assert fields["user"] is not None and "extra" not in fields["user"]
    assert "shoe_size" not in fields
    assert doc["user"]["extra"] == "kept in the document" and doc["shoe_size"] == 44


def test_null_optional_field_counts_as_absent() -> None:
    result = accept(event(**{"user.email": None, "elastra": None}))
    assert result.document["user"]["email"] is None
    assert result.document["elastra"] == {"data_category": "authentication_security"}


# --------------------------------------------------------------------------
# required fields

REQUIRED = [
    "@timestamp",
    "event.id",
    "event.action",
    "event.outcome",
    "event.provider",
    "organization.id",
]


@pytest.mark.parametrize("path", REQUIRED)
def test_each_required_field_missing_rejects(path: str) -> None:
    error = reject(with_path(path, DROP))
    assert error.error_type == "missing_field"
    assert path in error.message


@pytest.mark.parametrize("path", REQUIRED)
def test_each_required_field_null_rejects(path: str) -> None:
    error = reject(with_path(path, None))
    assert error.error_type == "missing_field"
    assert path in error.message


@pytest.mark.parametrize("obj", ["event", "organization"])
def test_missing_required_object_names_what_it_must_hold(obj: str) -> None:
    error = reject(with_path(obj, DROP))
    assert error.error_type == "missing_field"
    assert f"{obj}.id" in error.message


# --------------------------------------------------------------------------
# wrong types

WRONG_TYPES = [
    ("@timestamp", 1764148443120),
    ("event.id", 12345),
    ("event.action", ["user.login"]),
    ("event.outcome", True),
    ("event.provider", {"name": "auth"}),
    ("organization.id", 7),
    ("event", "user.login"),
    ("organization", ["org_7f3a"]),
    ("event.reason", 1),
    ("event.category", "authentication"),
    ("event.category", [1]),
    ("event.type", "start"),
    ("organization.name", 1),
    ("user", "usr_1"),
    ("user.id", 19),
    ("user.name", False),
    ("user.email", ["a@b"]),
    ("user.roles", "admin"),
    ("user.roles", ["admin", 3]),
    ("user.target", "usr_2"),
    ("user.target.id", 2),
    ("user.target.name", 2),
    ("source", "198.51.100.23"),
    ("source.ip", 3325256727),
    ("source.geo", "FR"),
    ("source.geo.country_iso_code", 33),
    ("source.geo.city_name", 1),
    ("source.geo.location", [2.35, 48.85]),
    ("source.geo.location", {"lat": "48.85", "lon": 2.35}),
    ("source.geo.location", {"lat": 48.85, "lon": True}),
    ("source.as.number", "64501"),
    ("source.as.number", 64501.0),
    ("source.as.number", True),
    ("source.as.organization.name", 1),
    ("user_agent", "Mozilla"),
    ("user_agent.original", 5),
    ("elastra", "x"),
    ("elastra.session.id", 1),
    ("elastra.token.id", 1),
    ("elastra.api_key.id", 1),
    ("elastra.device.id", 1),
    ("elastra.mfa.method", 1),
    ("elastra.sso.protocol", 1),
    ("elastra.sso.idp", 1),
    ("elastra.role", ["admin"]),
    ("elastra.resource", "prompt"),
    ("elastra.resource.type", 1),
    ("elastra.resource.id", 1),
    ("elastra.resource.organization_id", 1),
    ("elastra.records", "5"),
    ("elastra.records", 5.0),
    ("elastra.records", True),
    ("elastra.bytes", "1024"),
    ("elastra.bytes", 1.5),
    ("elastra.retention", "standard"),
    ("elastra.retention", {"class": 1, "days_before": 1, "days_after": 1}),
    ("elastra.retention", {"class": "a", "days_before": "1", "days_after": 1}),
    ("elastra.retention", {"class": "a", "days_before": 1, "days_after": 1.0}),
    ("elastra.request.id", 1),
    ("elastra.stage", 1),
]


@pytest.mark.parametrize(("path", "value"), WRONG_TYPES)
def test_each_wrong_type_rejects(path: str, value: Any) -> None:
    error = reject(with_path(path, value))
    assert error.error_type == "wrong_type", error.message
    assert error.message.startswith(path), error.message
    assert "must be" in error.message


def test_wrong_type_message_says_what_was_expected_and_given() -> None:
    error = reject(with_path("source.as.number", "64501"))
    assert error.message == "source.as.number must be an integer, got a string"


def test_list_item_of_wrong_type_is_located() -> None:
    error = reject(with_path("user.roles", ["admin", 3]))
    assert error.message.startswith("user.roles[1] must be a string")


# --------------------------------------------------------------------------
# bad values

BAD_VALUES = [
    ("event.id", ""),
    ("event.id", "x" * 129),
    ("event.id", "abc\ndef"),
    ("event.id", "abc\x00"),
    ("event.id", "tab\there"),
    ("event.action", ""),
    ("event.action", "user login"),
    ("event.action", "user..login"),
    ("event.action", ".user"),
    ("event.action", "a" * 129),
    ("event.outcome", "ok"),
    ("event.outcome", "SUCCESS"),
    ("event.outcome", ""),
    ("event.provider", ""),
    ("organization.id", ""),
    ("organization.id", "o" * 129),
    ("source.ip", "not-an-ip"),
    ("source.ip", "256.1.1.1"),
    ("source.ip", "01.2.3.4"),
    ("source.ip", "1.2.3"),
    ("source.ip", " 1.2.3.4"),
    ("source.ip", "fe80::1%eth0"),
    ("source.ip", "2001:db8::g"),
    ("source.ip", ""),
    ("source.geo.country_iso_code", "fr"),
    ("source.geo.country_iso_code", "FRA"),
    ("source.geo.country_iso_code", "F"),
    ("source.geo.country_iso_code", "F1"),
    ("source.geo.country_iso_code", "ÉT"),
    ("source.geo.location", {"lat": 90.0001, "lon": 0}),
    ("source.geo.location", {"lat": -90.5, "lon": 0}),
    ("source.geo.location", {"lat": 0, "lon": 180.5}),
    ("source.geo.location", {"lat": 0, "lon": -181}),
    ("source.geo.location", {"lat": 0, "lon": 0, "alt": 3}),
    ("source.as.number", -1),
    ("source.as.number", 2**32),
    ("elastra.records", -1),
    ("elastra.bytes", -5),
    ("elastra.bytes", 2**63),
    ("elastra.mfa.method", "email"),
    ("elastra.mfa.method", "TOTP"),
    ("elastra.sso.protocol", "ldap"),
    ("elastra.retention", {"class": "a", "days_before": -1, "days_after": 1}),
]


@pytest.mark.parametrize(("path", "value"), BAD_VALUES)
def test_each_bad_value_rejects(path: str, value: Any) -> None:
    error = reject(with_path(path, value))
    assert error.error_type == "invalid_value", error.message
    assert error.message.startswith(path), error.message


@pytest.mark.parametrize("missing", ["class", "days_before", "days_after"])
def test_retention_object_needs_all_three_fields(missing: str) -> None:
    retention = {"class": "standard", "days_before": 90, "days_after": 30}
    del retention[missing]
    error = reject(with_path("elastra.retention", retention))
    assert error.error_type == "missing_field"
    assert f"elastra.retention.{missing}" in error.message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("event.id", "x" * 128),
        ("event.id", "a b:c/d#é"),
        ("organization.id", "o" * 128),
        ("event.outcome", "unknown"),
        ("event.outcome", "success"),
        ("source.ip", "0.0.0.0"),
        ("source.ip", "255.255.255.255"),
        ("source.ip", "::1"),
        ("source.ip", "::ffff:198.51.100.23"),
        ("source.geo.location", {"lat": 90, "lon": -180}),
        ("source.as.number", 0),
        ("source.as.number", 2**32 - 1),
        ("elastra.mfa.method", "push"),
        ("elastra.mfa.method", "totp"),
        ("elastra.mfa.method", "sms"),
        ("elastra.sso.protocol", "saml"),
        ("event.action", "a" * 128),
        ("event.action", "vendor-x.thing_v2.do"),
    ],
)
def test_boundary_values_accepted(path: str, value: Any) -> None:
    accept(with_path(path, value))


def test_ipv6_stored_in_canonical_form() -> None:
    result = accept(with_path("source.ip", "2001:DB8:0:0:0:0:0:1"))
    assert result.document["source"]["ip"] == "2001:db8::1"


def test_bad_value_message_quotes_the_value() -> None:
    error = reject(with_path("event.outcome", "ok"))
    assert error.message == "event.outcome must be one of success, failure, unknown, got 'ok'"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "event.action",
            "user.login\n",  # a pattern anchored with $ must not let a newline through
            "must be a dotted name of letters, digits, '_' and '-', got 'user.login\\n'",
        ),
        ("event.action", "usér.login", "must be a dotted name"),
        ("event.outcome", "success\n", "must be one of success, failure, unknown, got"),
        (
            "source.geo.country_iso_code",
            "ÉT",
            "must be an ISO 3166-1 alpha-2 code (two upper-case letters), got 'ÉT'",
        ),
        ("source.geo.country_iso_code", "ＦＲ", "must be an ISO 3166-1 alpha-2 code"),
        ("elastra.mfa.method", "sms ", "must be one of push, totp, webauthn, sms, got 'sms '"),
        ("elastra.sso.protocol", "OIDC", "must be one of saml, oidc, got 'OIDC'"),
    ],
)
def test_checks_run_by_pydantic_core_keep_our_messages(
    path: str, value: str, expected: str
) -> None:
    error = reject(with_path(path, value))
    assert error.error_type == "invalid_value"
    assert error.message.startswith(f"{path} {expected}"), error.message


def test_several_problems_report_the_first_and_count_the_rest() -> None:
    error = reject(event(**{"event.outcome": "ok", "user.id": 1, "source.ip": "x"}))
    assert error.message.startswith("event.outcome")
    assert "(and 2 more problems)" in error.message


def test_huge_bad_value_is_not_echoed_in_full() -> None:
    error = reject(with_path("source.ip", "9" * 20000))
    assert len(error.message) < 200


# --------------------------------------------------------------------------
# timestamps


@pytest.mark.parametrize(
    "value",
    ["2026-11-26T09:14:03", "2026-11-26T09:14:03.120", "2026-11-26T09:14", "2026-11-26"],
)
def test_timestamp_without_zone_rejects(value: str) -> None:
    error = reject(with_path("@timestamp", value))
    assert error.error_type == "timestamp"
    assert "no time zone" in error.message


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "",
        "26/11/2026 09:14:03Z",
        "2026-11-26 09:14:03Z",
        "20261126T091403Z",
        "2026-13-26T09:14:03Z",
        "2026-11-31T09:14:03Z",
        "2026-11-26T25:14:03Z",
        "2026-11-26T09:14:03+0100",
        "2026-11-26T09:14:03.Z",
        "2026-11-26T09:14:03.1234567890Z",
        "٢٠٢٦-11-26T09:14:03Z",
    ],
)
def test_unparsable_timestamp_rejects(value: str) -> None:
    error = reject(with_path("@timestamp", value))
    assert error.error_type == "timestamp"
    assert error.message.startswith("@timestamp")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-26T10:14:03+01:00", datetime(2026, 11, 26, 9, 14, 3, tzinfo=UTC)),
        ("2026-11-26T04:44:03.5-04:30", datetime(2026, 11, 26, 9, 14, 3, 500000, tzinfo=UTC)),
        ("2026-11-26T09:14:03.123456789Z", datetime(2026, 11, 26, 9, 14, 3, 123456, tzinfo=UTC)),
        ("2026-11-26T09:14:03-00:00", datetime(2026, 11, 26, 9, 14, 3, tzinfo=UTC)),
        ("2020-01-01T00:00:00Z", datetime(2020, 1, 1, tzinfo=UTC)),
    ],
)
def test_zoned_timestamps_become_aware_utc(value: str, expected: datetime) -> None:
    result = accept(with_path("@timestamp", value))
    assert result.timestamp == expected
    assert result.timestamp.utcoffset() == timedelta(0)
    assert result.document["@timestamp"] == value  # kept as given


def test_lower_case_t_and_z_are_accepted_and_stored_upper_case() -> None:
    result = accept(with_path("@timestamp", "2026-11-26t09:14:03z"))
    assert result.timestamp == datetime(2026, 11, 26, 9, 14, 3, tzinfo=UTC)
    assert result.document["@timestamp"] == "2026-11-26T09:14:03Z"


def test_timestamp_exactly_24h_ahead_is_accepted() -> None:
    result = accept(with_path("@timestamp", "2026-11-27T09:15:00.000Z"))
    assert result.timestamp - RECEIVED == timedelta(hours=24)


def test_timestamp_more_than_24h_ahead_rejects() -> None:
    error = reject(with_path("@timestamp", "2026-11-27T09:15:00.001Z"))
    assert error.error_type == "timestamp"
    assert "24 h" in error.message


def test_future_bound_compares_instants_not_wall_clocks() -> None:
    # 10:15+01:00 the next day is exactly 24 h after 09:15Z: accepted.
    accept(with_path("@timestamp", "2026-11-27T10:15:00+01:00"))
    reject(with_path("@timestamp", "2026-11-27T10:15:01+01:00"))
    # The receiving clock may be in any zone.
    paris = timezone(timedelta(hours=1))
    accept(with_path("@timestamp", "2026-11-27T09:15:00Z"), RECEIVED.astimezone(paris))


def test_old_timestamps_are_accepted() -> None:
    accept(with_path("@timestamp", "2001-01-01T00:00:00Z"))


def test_naive_receiving_clock_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        normalize_message(orjson.dumps(BASE), received_at=datetime(2026, 11, 26, 9, 15))


def test_ingested_is_received_at_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    result = accept(BASE, datetime(2026, 11, 26, 10, 15, 0, 250000, tzinfo=paris))
    assert result.document["event"]["ingested"] == "2026-11-26T09:15:00.250Z"


def test_producer_ingested_and_data_category_are_replaced() -> None:
    doc = event(**{"event.ingested": "1999-01-01T00:00:00Z", "elastra.data_category": "telemetry"})
    result = accept(doc)
    assert result.document["event"]["ingested"] == "2026-11-26T09:15:00.000Z"
    assert result.document["elastra"]["data_category"] == "authentication_security"


def test_producer_integrity_object_is_removed() -> None:
    doc = event(integrity={"seq": 1, "hash": "0" * 64, "prev_hash": "0" * 64, "chain": "org"})
    assert "integrity" not in accept(doc).document


def test_normalize_document_takes_a_parsed_object() -> None:
    doc = copy.deepcopy(BASE)
    result = normalize_document(doc, received_at=RECEIVED)
    assert result.document is doc
    assert doc["elastra"]["data_category"] == "authentication_security"
    with pytest.raises(EventRejected) as info:
        normalize_document(["not", "an", "object"], received_at=RECEIVED)
    assert info.value.error_type == "not_object"
