"""The message envelope, dotted keys and unknown fields of the event contract."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from audit.domain.event import MAX_DEPTH, MAX_MESSAGE_BYTES, REJECTION_TYPES, normalize_message
from audit.errors import EventRejected
from tests.unit.test_event_model import BASE, RECEIVED, accept, reject


def test_rejection_types_are_a_small_fixed_set_of_snake_case_labels() -> None:
    assert {
        "empty",
        "oversize",
        "encoding",
        "json",
        "not_object",
        "conflicting_field",
        "missing_field",
        "wrong_type",
        "invalid_value",
        "timestamp",
    } == REJECTION_TYPES
    assert all(t.isidentifier() and t.islower() for t in REJECTION_TYPES)


def test_rejection_is_an_event_rejected_carrying_type_and_message() -> None:
    with pytest.raises(EventRejected) as info:
        normalize_message(b"[]", received_at=RECEIVED)
    assert str(info.value) == f"{info.value.error_type}: {info.value.message}"


# --------------------------------------------------------------------------
# envelope


@pytest.mark.parametrize("value", [None, b""])
def test_empty_value_rejects(value: bytes | None) -> None:
    error = reject_raw(value)
    assert error.error_type == "empty"


def padded(size: int) -> bytes:
    """BASE serialized to exactly ``size`` bytes, padded with an extra field."""
    doc = copy.deepcopy(BASE)
    doc["padding"] = ""
    overhead = len(orjson.dumps(doc))
    doc["padding"] = "p" * (size - overhead)
    raw = orjson.dumps(doc)
    assert len(raw) == size
    return raw


def test_message_of_exactly_64_kib_is_accepted() -> None:
    assert MAX_MESSAGE_BYTES == 65536
    result = normalize_message(padded(65536), received_at=RECEIVED)
    assert len(result.document["padding"]) > 60000


def test_message_one_byte_over_64_kib_rejects() -> None:
    error = reject_raw(padded(65537))
    assert error.error_type == "oversize"
    assert "65537" in error.message and "65536" in error.message


def test_size_limit_is_configurable() -> None:
    raw = orjson.dumps(BASE)
    normalize_message(raw, received_at=RECEIVED, max_bytes=len(raw))
    with pytest.raises(EventRejected) as info:
        normalize_message(raw, received_at=RECEIVED, max_bytes=len(raw) - 1)
    assert info.value.error_type == "oversize"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event": "\xff"}',
        b"\xc3\x28",
        '{"a": "caf\u00e9"}'.encode("latin-1"),
        b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate is not UTF-8
    ],
)
def test_non_utf8_rejects_as_encoding(raw: bytes) -> None:
    error = reject_raw(raw)
    assert error.error_type == "encoding"
    assert "UTF-8" in error.message


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"event": ',
        b"{'a': 1}",
        b'{"a": NaN}',
        b'{"a": 1} {"b": 2}',
        b"\xef\xbb\xbf{}",
    ],
)
def test_not_json_rejects(raw: bytes) -> None:
    error = reject_raw(raw)
    assert error.error_type == "json"
    assert "not valid JSON" in error.message


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"[]", "an array"),
        (b"[{}]", "an array"),
        (b'"user.login"', "a string"),
        (b"42", "an integer"),
        (b"4.2", "a number"),
        (b"true", "a boolean"),
        (b"null", "null"),
    ],
)
def test_json_that_is_not_an_object_rejects(raw: bytes, kind: str) -> None:
    error = reject_raw(raw)
    assert error.error_type == "not_object"
    assert error.message.endswith(kind)


def reject_raw(raw: bytes | None) -> EventRejected:
    with pytest.raises(EventRejected) as info:
        normalize_message(raw, received_at=RECEIVED)
    return info.value


# --------------------------------------------------------------------------
# dotted keys


def flat_base() -> dict[str, Any]:
    return {
        "@timestamp": "2026-11-26T09:14:03.120Z",
        "event.id": "e-1",
        "event.action": "user.login",
        "event.outcome": "success",
        "event.provider": "auth-service",
        "organization.id": "org_7f3a",
        "source.ip": "198.51.100.23",
        "source.geo.country_iso_code": "FR",
        "source.as.number": 64501,
    }


def test_fully_flattened_event_is_accepted_and_stored_nested() -> None:
    result = accept(flat_base())
    doc = result.document
    assert result.event_id == "e-1"
    assert doc["event"]["id"] == "e-1"
    assert doc["organization"] == {"id": "org_7f3a"}
    assert doc["source"]["geo"]["country_iso_code"] == "FR"
    assert doc["source"]["as"] == {"number": 64501}
    assert not [key for key in doc if "." in key]


def test_mixed_nested_and_dotted_keys_merge() -> None:
    doc = {
        "@timestamp": "2026-11-26T09:14:03Z",
        "event": {"id": "e-2", "action": "user.login"},
        "event.outcome": "failure",
        "event.provider": "auth-service",
        "organization": {"id": "org_1"},
        "source": {"geo.country_iso_code": "DE", "ip": "10.0.0.1"},
        "user.target": {"id": "usr_9"},
    }
    result = accept(doc)
    assert result.document["event"]["outcome"] == "failure"
    assert result.document["event"]["id"] == "e-2"
    assert result.document["source"] == {"geo": {"country_iso_code": "DE"}, "ip": "10.0.0.1"}
    assert result.document["user"] == {"target": {"id": "usr_9"}}


def test_flattened_fields_are_validated_like_nested_ones() -> None:
    doc = flat_base()
    doc["source.as.number"] = "64501"
    error = reject(doc)
    assert error.error_type == "wrong_type"
    assert error.message.startswith("source.as.number")
    doc = flat_base()
    del doc["event.id"]
    assert reject(doc).error_type == "missing_field"


def test_same_value_given_nested_and_dotted_is_accepted() -> None:
    doc = copy.deepcopy(BASE)
    doc["event.id"] = BASE["event"]["id"]
    assert accept(doc).document["event"]["id"] == BASE["event"]["id"]


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"event.id": "another-id"}, "event.id"),
        ({"source.as.number": 1}, "source.as.number"),
        ({"source.as.number": True}, "source.as.number"),
        ({"source.geo": {"country_iso_code": "DE"}}, "source.geo.country_iso_code"),
        ({"user.id.x": "y"}, "user.id"),
        ({"user_agent.original.text": "x"}, "user_agent.original"),
    ],
)
def test_conflicting_duplicates_reject(extra: dict[str, Any], path: str) -> None:
    doc = copy.deepcopy(BASE)
    doc.update(extra)
    error = reject(doc)
    assert error.error_type == "conflicting_field"
    assert path in error.message


def test_dotted_key_below_a_scalar_conflicts() -> None:
    doc = copy.deepcopy(BASE)
    doc["custom"] = 1
    doc["custom.x"] = 2
    assert reject(doc).error_type == "conflicting_field"


@pytest.mark.parametrize("key", ["event..id", ".event", "user.", "", " ", "a. .b"])
def test_empty_field_names_reject(key: str) -> None:
    doc = copy.deepcopy(BASE)
    doc[key] = "x"
    error = reject(doc)
    assert error.error_type == "invalid_value"
    assert "empty" in error.message


@pytest.mark.parametrize("name", ["_id", "_source", "_index", "_routing"])
def test_elasticsearch_metadata_field_names_reject(name: str) -> None:
    doc = copy.deepcopy(BASE)
    doc[name] = "x"
    error = reject(doc)
    assert error.error_type == "invalid_value"
    assert name in error.message


def test_dotted_keys_inside_arrays_of_objects_are_expanded() -> None:
    doc = copy.deepcopy(BASE)
    doc["changes"] = [{"field.name": "mfa", "field.old": "off"}]
    assert accept(doc).document["changes"] == [{"field": {"name": "mfa", "old": "off"}}]


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    root = node
    for _ in range(depth - 1):
        node["n"] = {}
        node = node["n"]
    return root


def test_nesting_up_to_the_limit_is_accepted() -> None:
    doc = copy.deepcopy(BASE)
    doc["deep"] = nested(MAX_DEPTH - 1)
    accept(doc)


def test_nesting_beyond_the_limit_rejects_without_recursion_error() -> None:
    depth = 900  # deeper than Python's recursion would survive, within orjson's limit
    raw = orjson.dumps(BASE)[:-1] + b',"deep":' + b'{"n":' * depth + b"{}" + b"}" * depth + b"}"
    error = reject_raw(raw)
    assert error.error_type == "invalid_value"
    assert error.message.startswith("deep.n.n")
    assert f"deeper than {MAX_DEPTH}" in error.message


def test_a_very_long_dotted_key_counts_as_nesting() -> None:
    doc = copy.deepcopy(BASE)
    doc[".".join(["k"] * (MAX_DEPTH + 1))] = 1
    assert reject(doc).error_type == "invalid_value"


# --------------------------------------------------------------------------
# unknown fields


def test_unknown_extra_fields_are_kept_as_they_came() -> None:
    doc = copy.deepcopy(BASE)
    doc["labels"] = {"env": "prod", "Weird Key!": [1, {"x": None}]}
    doc["event"]["severity"] = 7
    doc["user"]["department"] = {"name": "R&D"}
    doc["elastra"] = {"experiment": "x-17", "records": 3}
    doc["host"] = "api-1"
    result = accept(doc)
    stored = result.document
    assert stored["labels"] == {"env": "prod", "Weird Key!": [1, {"x": None}]}
    assert stored["event"]["severity"] == 7
    assert stored["user"]["department"] == {"name": "R&D"}
    assert stored["elastra"]["experiment"] == "x-17"
    assert stored["host"] == "api-1"


def test_unknown_fields_are_not_interpreted() -> None:
    # A field with a contract-like name outside the contract's objects is free.
    doc = copy.deepcopy(BASE)
    doc["extra"] = {"source": {"ip": "not-an-ip"}, "@timestamp": 5}
    assert accept(doc).document["extra"]["source"]["ip"] == "not-an-ip"


def test_document_round_trips_to_json() -> None:
    result = accept(BASE)
    assert orjson.loads(orjson.dumps(result.document)) == result.document


def test_huge_field_name_is_not_echoed_in_full() -> None:
    doc = copy.deepcopy(BASE)
    doc["k" * 30000 + "."] = 1
    error = reject(doc)
    assert error.error_type == "invalid_value"
    assert len(error.message) <= 300
