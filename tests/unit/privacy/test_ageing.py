"""Per-field ageing of one document (pure)."""

from __future__ import annotations

from datetime import timedelta

from audit.adapters.bundled_data import load_retention_policy
from audit.domain.retention.ageing import age_document, ageable, aged_fields
from audit.domain.retention.policy import FieldAge
from tests.unit.integrity.conftest import T0, make_document

AGES = {
    "source.ip": FieldAge(after_days=90, action="truncate"),
    "user_agent.original": FieldAge(after_days=180, action="drop"),
}


def v2(i: int) -> dict:  # type: ignore[type-arg]
    document = make_document(i)
    document["integrity"] = {"v": 2, "keys": {}, "commitments": {}}
    return document


def test_only_fields_past_their_age_change_and_a_rerun_changes_nothing() -> None:
    document = v2(1)
    assert age_document(document, AGES, T0 + timedelta(days=89)) is None
    aged = age_document(document, AGES, T0 + timedelta(days=91))
    assert aged is not None and document["source"]["ip"] == "198.51.100.23"
    assert aged["source"]["ip"] == "198.51.100.0"
    assert aged["user_agent"] == document["user_agent"]
    assert aged["integrity"]["privacy"]["aged"] == ["source.ip"]
    assert age_document(aged, AGES, T0 + timedelta(days=91)) is None
    later = age_document(aged, AGES, T0 + timedelta(days=181))
    assert later is not None and "user_agent" not in later
    assert later["integrity"]["privacy"]["aged"] == ["source.ip", "user_agent.original"]


def test_version_1_links_are_not_aged() -> None:
    document = make_document(1)
    document["integrity"] = {"seq": 1}
    assert age_document(document, AGES, T0 + timedelta(days=400)) is None


def test_a_missing_field_is_excused_only_when_recorded_and_old_enough() -> None:
    minimum = ageable(load_retention_policy())
    assert minimum == {"user_agent.original": 180}  # truncation needs no excuse
    document = v2(1)
    assert aged_fields(document, minimum, T0 + timedelta(days=200)) == set()
    document["integrity"]["privacy"] = {"aged": ["user_agent.original"]}
    assert aged_fields(document, minimum, T0 + timedelta(days=100)) == set()
    assert aged_fields(document, minimum, T0 + timedelta(days=200)) == {"user_agent.original"}
