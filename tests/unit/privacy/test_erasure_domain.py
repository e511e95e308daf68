"""What erasing a subject does to one document (pure)."""

from __future__ import annotations

from audit.domain.privacy.erasure import ERASED, erase, mentions, roles_of, scrub
from tests.unit.integrity.conftest import make_document


def test_erase_removes_the_roles_fields_and_marks_the_document() -> None:
    document = make_document(1)
    document["user"]["target"] = {"id": "usr_t", "name": "Tee"}
    document["integrity"] = {"v": 2}
    assert roles_of(document, "user.id", "usr_t") == ["target"]
    erased = erase(document, ["target"], "dsr_1")
    assert "target" not in erased.document["user"] and erased.document["user"]["id"]
    assert erased.fields == ["user.target.id", "user.target.name"]
    assert erased.document["integrity"]["privacy"] == {"erased": {"target": "dsr_1"}}
    assert document["user"]["target"]["id"] == "usr_t"  # the input is not changed


def test_only_records_naming_the_subject_are_scrubbed() -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64)"
    about_subject = {
        "title": "Brute force against usr_subject_1",
        "entities": {"user.id": ["usr_subject_1"], "user_agent": [agent]},
    }
    about_other = {"title": "Spraying", "entities": {"user_agent": [agent]}}
    identifiers = {"usr_subject_1"}
    assert mentions(about_subject, identifiers) and not mentions(about_other, identifiers)
    scrubbed, changed = scrub(about_subject, {"usr_subject_1", agent}, identifiers)
    assert changed
    assert scrubbed == {
        "title": f"Brute force against {ERASED}",
        "entities": {"user.id": [ERASED], "user_agent": [ERASED]},
    }
