"""The index template of audit events: every contract field mapped, nothing dynamic."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from tests.unit.test_event_model import accept, event

# The stripped test node has only core field types.
CORE_TYPES = {"keyword", "text", "date", "long", "integer", "ip", "geo_point", "boolean"}

EXPECTED = {
    "@timestamp": "date",
    "event.id": "keyword",
    "event.action": "keyword",
    "event.outcome": "keyword",
    "event.provider": "keyword",
    "event.reason": "keyword",
    "event.category": "keyword",
    "event.type": "keyword",
    "event.ingested": "date",
    "organization.id": "keyword",
    "organization.name": "keyword",
    "user.id": "keyword",
    "user.name": "keyword",
    "user.email": "keyword",
    "user.roles": "keyword",
    "user.target.id": "keyword",
    "user.target.name": "keyword",
    "source.ip": "ip",
    "source.geo.country_iso_code": "keyword",
    "source.geo.city_name": "keyword",
    "source.geo.location": "geo_point",
    "source.as.number": "long",
    "source.as.organization.name": "keyword",
    "user_agent.original": "keyword",
    "elastra.session.id": "keyword",
    "elastra.token.id": "keyword",
    "elastra.api_key.id": "keyword",
    "elastra.device.id": "keyword",
    "elastra.mfa.method": "keyword",
    "elastra.sso.protocol": "keyword",
    "elastra.sso.idp": "keyword",
    "elastra.role": "keyword",
    "elastra.resource.type": "keyword",
    "elastra.resource.id": "keyword",
    "elastra.resource.organization_id": "keyword",
    "elastra.records": "long",
    "elastra.bytes": "long",
    "elastra.retention.class": "keyword",
    "elastra.retention.days_before": "long",
    "elastra.retention.days_after": "long",
    "elastra.request.id": "keyword",
    "elastra.stage": "keyword",
    "elastra.data_category": "keyword",
    "integrity.seq": "long",
    "integrity.prev_hash": "keyword",
    "integrity.hash": "keyword",
    "integrity.chain": "keyword",
    # chain link version 2 and data-subject rights (docs/privacy.md)
    "integrity.keys.actor": "keyword",
    "integrity.keys.target": "keyword",
    "integrity.privacy.erased.actor": "keyword",
    "integrity.privacy.erased.target": "keyword",
    "integrity.privacy.restricted": "keyword",
    "integrity.privacy.aged": "keyword",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    text = (resources.files("audit") / "data" / "mappings" / "audit-events.json").read_text()
    body: dict[str, Any] = json.loads(text)
    return body


def leaves(properties: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            assert "type" not in spec or spec["type"] == "object", path
            out.update(leaves(spec["properties"], f"{path}."))
        else:
            out[path] = spec
    return out


def test_template_targets_daily_indices_behind_the_read_alias(template: dict[str, Any]) -> None:
    assert template["index_patterns"] == ["audit-events-*"]
    assert isinstance(template["priority"], int) and template["priority"] > 0
    assert template["template"]["aliases"] == {"audit-events": {}}
    assert template["_meta"]["version"] == 2
    assert "name" not in template


def test_settings(template: dict[str, Any]) -> None:
    index = template["template"]["settings"]["index"]
    assert index["number_of_shards"] == 1
    assert index["number_of_replicas"] == 0
    assert index["refresh_interval"] == "1s"
    limit = index["mapping"]["total_fields"]["limit"]
    assert len(EXPECTED) < limit <= 1000


def test_unknown_fields_are_not_indexed(template: dict[str, Any]) -> None:
    mappings = template["template"]["mappings"]
    assert mappings["dynamic"] is False
    assert mappings["_meta"]["version"] == 2


def test_every_contract_field_has_its_explicit_type(template: dict[str, Any]) -> None:
    mapped = leaves(template["template"]["mappings"]["properties"])
    assert {path: spec["type"] for path, spec in mapped.items()} == EXPECTED


def test_only_core_field_types_are_used(template: dict[str, Any]) -> None:
    mapped = leaves(template["template"]["mappings"]["properties"])
    assert {spec["type"] for spec in mapped.values()} <= CORE_TYPES
    text = json.dumps(template)
    assert "flattened" not in text
    assert "analyzer" not in text


def test_long_keywords_are_stored_but_not_indexed(template: dict[str, Any]) -> None:
    # A keyword term over 32 KiB would fail the whole document in Lucene.
    mapped = leaves(template["template"]["mappings"]["properties"])
    assert mapped["user_agent.original"]["ignore_above"] == 1024
    for path, spec in mapped.items():
        if spec["type"] == "keyword":
            assert 0 < spec.get("ignore_above", 0) <= 8191, path


def test_every_field_a_normalized_event_can_hold_is_mapped(template: dict[str, Any]) -> None:
    mapped = set(leaves(template["template"]["mappings"]["properties"]))
    doc = event(
        **{
            "organization.name": "Acme",
            "user.email": "a@b",
            "user.roles": ["r"],
            "user.target": {"id": "t", "name": "n"},
            "source.geo.city_name": "Paris",
            "source.geo.location": {"lat": 1.0, "lon": 2.0},
            "source.as.organization.name": "ISP",
            "elastra": {
                "session": {"id": "s"},
                "token": {"id": "t"},
                "api_key": {"id": "k"},
                "device": {"id": "d"},
                "mfa": {"method": "sms"},
                "sso": {"protocol": "saml", "idp": "i"},
                "role": "r",
                "resource": {"type": "prompt", "id": "p", "organization_id": "o"},
                "records": 1,
                "bytes": 2,
                "retention": {"class": "c", "days_before": 1, "days_after": 2},
                "request": {"id": "q"},
                "stage": "completed",
            },
        }
    )
    stored = accept(doc).document
    paths: set[str] = set()

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and f"{prefix}{key}" != "source.geo.location":
                walk(value, f"{prefix}{key}.")
            else:
                paths.add(f"{prefix}{key}")

    walk(stored, "")
    assert paths <= mapped
    assert mapped - paths == {
        "integrity.seq",
        "integrity.prev_hash",
        "integrity.hash",
        "integrity.chain",
        "integrity.keys.actor",
        "integrity.keys.target",
        "integrity.privacy.erased.actor",
        "integrity.privacy.erased.target",
        "integrity.privacy.restricted",
        "integrity.privacy.aged",
    }


def test_the_chain_fields_are_indexed_only_as_far_as_they_are_read(
    template: dict[str, Any],
) -> None:
    """Chains are read by ``integrity.chain`` (term, terms) in ``integrity.seq``
    order (sort, range, min/max); verification reads the hashes from
    ``_source``. ``hash`` stays searchable (an event can be found by its
    hash); ``prev_hash`` is the previous link's ``hash`` and is kept in
    ``_source`` only. Indexing both hashes with doc values made a sealed
    event cost Elasticsearch ~18 µs more CPU and its index twice the size of
    an unsealed one (BENCHMARKS.md)."""
    fields = leaves(template["template"]["mappings"]["properties"])
    assert fields["integrity.chain"]["type"] == "keyword"
    assert fields["integrity.chain"].get("doc_values", True)
    assert fields["integrity.seq"]["type"] == "long"
    assert fields["integrity.seq"].get("doc_values", True)
    assert fields["integrity.hash"].get("index", True)
    assert fields["integrity.hash"]["doc_values"] is False
    assert fields["integrity.prev_hash"]["index"] is False
    assert fields["integrity.prev_hash"]["doc_values"] is False
