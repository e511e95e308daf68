"""Chain link version 2 on the real node: v1 and v2 side by side verify
clean; a personal value removed or changed by hand is tampering."""

from __future__ import annotations

import pytest

from audit.domain.integrity import ChainHead
from tests.integration.privacy_support import COUNT, ORG, V1_UNTIL, Privacy, event, privacy

pytestmark = pytest.mark.integration
__all__ = ["privacy"]


def _id(seq: int) -> str:
    return event(seq)["event"]["id"]


def _stored(privacy: Privacy, seq: int) -> tuple[str, dict]:  # type: ignore[type-arg]
    hit = privacy.es.search(index=privacy.prefix, query={"ids": {"values": [_id(seq)]}})["hits"][
        "hits"
    ][0]
    return hit["_index"], hit["_source"]


def test_v1_and_v2_links_verify_side_by_side(privacy: Privacy) -> None:
    head = privacy.store(range(1, 31), ChainHead.genesis(ORG))
    privacy.sign()
    privacy.store(range(31, COUNT + 1), head)
    versions = {_stored(privacy, s)[1]["integrity"].get("v", 1) for s in (1, V1_UNTIL + 1)}
    assert versions == {1, 2}
    stored = _stored(privacy, 21)[1]
    # The stored document keeps values in clear; the link holds commitments only.
    assert stored["source"]["ip"] == "198.51.100.21"
    assert "198.51.100.21" not in str(stored["integrity"])
    report = privacy.verify()
    assert report.ok, report.findings
    assert (report.first_seq, report.last_seq, report.events) == (1, COUNT, COUNT)


def test_hand_removed_or_changed_value_is_tampering(privacy: Privacy) -> None:
    privacy.store(range(1, COUNT + 1), ChainHead.genesis(ORG))
    privacy.sign()
    index, source = _stored(privacy, 24)
    del source["source"]["ip"]
    privacy.es.index(index=index, id=_id(24), document=source, refresh=True)
    index, source = _stored(privacy, 33)
    source["user_agent"]["original"] = "Forged/1.0"
    privacy.es.index(index=index, id=_id(33), document=source, refresh=True)
    index, source = _stored(privacy, 5)  # version 1: the hash itself breaks
    source["user"]["name"] = "Forged Name"
    privacy.es.index(index=index, id=_id(5), document=source, refresh=True)
    report = privacy.verify()
    named = {(f.kind.value, f.seq, f.event_id) for f in report.findings}
    assert named == {
        ("value_removed", 24, _id(24)),
        ("value_modified", 33, _id(33)),
        ("modified", 5, _id(5)),
    }
    assert report.as_dict()["erased"] == []
