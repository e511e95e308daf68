"""Kibana saved objects: NDJSON that parses, references that resolve, and
only fields the audit-events index template maps."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.ops.promql import KIBANA, MAPPING

KQL_FIELD = re.compile(r"([@\w.]+)\s*:")


def _objects() -> list[dict]:
    objects = []
    for path in sorted(KIBANA.glob("*.ndjson")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    objects.append(json.loads(line))
                except json.JSONDecodeError as err:  # pragma: no cover - reported
                    pytest.fail(f"{path.name}:{number}: {err}")
    return objects


def _flatten(properties: dict, prefix: str = "") -> Iterator[str]:
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            yield from _flatten(spec["properties"], f"{path}.")
        else:
            yield path
        for sub in spec.get("fields", {}):
            yield f"{path}.{sub}"


def _mapped_fields() -> set[str]:
    if not MAPPING.is_file():
        pytest.fail(f"{MAPPING} is missing: the Kibana objects cannot be checked")
    doc = json.loads(MAPPING.read_text())
    mappings = doc.get("template", doc).get("mappings", doc.get("mappings", {}))
    return set(_flatten(mappings["properties"]))


def _fields_of(obj: dict) -> set[str]:
    """Every field a saved object refers to."""
    attrs = obj["attributes"]
    fields: set[str] = set()
    if obj["type"] == "index-pattern":
        fields.add(attrs["timeFieldName"])
        fields |= set(json.loads(attrs.get("fieldFormatMap", "{}")))
        fields |= set(json.loads(attrs.get("fieldAttrs", "{}")))
    if obj["type"] == "search":
        fields |= set(attrs["columns"])
        fields |= {field for field, _ in attrs["sort"]}
    if obj["type"] == "visualization":
        vis = json.loads(attrs["visState"])
        fields |= {a["params"]["field"] for a in vis["aggs"] if "field" in a.get("params", {})}
    meta = attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
    if meta:
        query = json.loads(meta).get("query", {}).get("query", "")
        fields |= set(KQL_FIELD.findall(re.sub(r'"[^"]*"', '""', query)))
    return fields


OBJECTS = _objects()


def test_the_expected_objects_exist():
    kinds = [o["type"] for o in OBJECTS]
    assert kinds.count("index-pattern") == 1
    assert kinds.count("search") == 4
    assert kinds.count("dashboard") == 1
    ids = [o["id"] for o in OBJECTS]
    assert len(ids) == len(set(ids))


def test_data_view_covers_audit_events_by_timestamp():
    (view,) = [o for o in OBJECTS if o["type"] == "index-pattern"]
    assert view["attributes"]["title"] == "audit-events*"
    assert view["attributes"]["timeFieldName"] == "@timestamp"
    formats = json.loads(view["attributes"]["fieldFormatMap"])
    assert formats["elastra.bytes"]["id"] == "bytes"


def test_references_resolve():
    by_id = {(o["type"], o["id"]) for o in OBJECTS}
    for obj in OBJECTS:
        for ref in obj.get("references", []):
            assert (ref["type"], ref["id"]) in by_id, f"{obj['id']} -> {ref}"
        attrs = obj["attributes"]
        names = {ref["name"] for ref in obj.get("references", [])}
        if obj["type"] == "dashboard":
            for panel in json.loads(attrs["panelsJSON"]):
                assert panel["panelRefName"] in names
        meta = attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        if meta and "indexRefName" in json.loads(meta):
            assert json.loads(meta)["indexRefName"] in names


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o["id"])
def test_every_referenced_field_is_mapped(obj):
    missing = _fields_of(obj) - _mapped_fields()
    assert not missing, f"fields not in {MAPPING.name}: {sorted(missing)}"


def test_on_call_searches_query_the_catalogue_actions():
    queries = {
        o["id"]: json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"][
            "query"
        ]
        for o in OBJECTS
        if o["type"] == "search"
    }
    assert "user.login" in queries["elastra-audit-failed-logins"]
    assert "cross_tenant" in queries["elastra-audit-cross-tenant"]
    assert "revoked" in queries["elastra-audit-revoked-credentials"]
    assert "content.export" in queries["elastra-audit-exports"]
