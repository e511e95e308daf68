"""Per-field ageing on the real node: IPs older than their age are truncated
(/24, /48) and user agents dropped, nothing younger is touched; a crash in
the middle and a rerun end in the same state; verification stays clean."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest

from audit.adapters.bundled_data import load_retention_policy
from audit.adapters.elasticsearch.privacy_store import ElasticsearchDocumentIndex
from audit.domain.integrity import ChainHead
from audit.services.field_ageing import FieldAgeing
from audit.services.ports.privacy import StoredHit
from tests.integration.privacy_support import COUNT, ORG, T0, V1_UNTIL, Privacy, event, privacy

pytestmark = pytest.mark.integration
__all__ = ["privacy"]

# seq n is at T0 + n minutes; at AGE_NOW events up to seq 30 are older than 90 days.
AGE_NOW = T0 + timedelta(days=90, minutes=30, seconds=30)


class Crash(Exception):
    pass


class CrashingIndex(ElasticsearchDocumentIndex):
    """Pages of 7; the second rewrite raises after the first went through."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.rewrites = 0

    def walk(self, index: str, query: Mapping[str, Any]) -> Iterator[list[StoredHit]]:
        for page in super().walk(index, query):
            for start in range(0, len(page), 7):
                yield page[start : start + 7]

    def rewrite(self, changes: Sequence[tuple[StoredHit, Mapping[str, Any]]]) -> int:
        self.rewrites += 1
        if self.rewrites == 2:
            raise Crash("killed mid-run")
        return super().rewrite(changes)


def _sources(privacy: Privacy) -> dict[int, dict[str, Any]]:
    privacy.es.indices.refresh(index=privacy.prefix)
    hits = privacy.es.search(index=privacy.prefix, size=1000, query={"match_all": {}})
    return {h["_source"]["integrity"]["seq"]: h["_source"] for h in hits["hits"]["hits"]}


def test_ageing_truncates_only_old_ips_resumes_after_a_crash_and_verifies(
    privacy: Privacy,
) -> None:
    privacy.store(range(1, COUNT + 1), ChainHead.genesis(ORG))
    privacy.sign()
    policy = load_retention_policy()
    before = _sources(privacy)

    crashing = CrashingIndex(privacy.es)
    with pytest.raises(Crash):
        FieldAgeing(crashing, policy, privacy.prefix).run(AGE_NOW)
    partial = _sources(privacy)
    truncated = {s for s in partial if partial[s]["source"]["ip"] != before[s]["source"]["ip"]}
    assert 0 < len(truncated) < 30 - V1_UNTIL  # the crash left work undone

    report = FieldAgeing(ElasticsearchDocumentIndex(privacy.es), policy, privacy.prefix).run(
        AGE_NOW
    )
    after = _sources(privacy)
    for seq in range(1, COUNT + 1):
        ip = before[seq]["source"]["ip"]
        if V1_UNTIL < seq <= 30:  # old enough, version 2
            assert after[seq]["source"]["ip"] == ip.rsplit(".", 1)[0] + ".0", seq
            assert after[seq]["integrity"]["privacy"]["aged"] == ["source.ip"]
        else:  # younger, or a version-1 link whose hash covers the value
            assert after[seq]["source"]["ip"] == ip, seq
            assert "privacy" not in after[seq]["integrity"]
        # user agents age after 180 days: nobody yet
        assert after[seq]["user_agent"] == before[seq]["user_agent"]
    assert report.aged["standard:source.ip"] == 30 - V1_UNTIL - len(truncated)

    # A third run changes nothing: the same end state.
    again = FieldAgeing(ElasticsearchDocumentIndex(privacy.es), policy, privacy.prefix).run(AGE_NOW)
    assert again.aged["standard:source.ip"] == 0
    assert _sources(privacy) == after
    report_verify = privacy.verify()
    assert report_verify.ok, report_verify.findings

    # After 180 days user agents are dropped, and verification still holds.
    later = T0 + timedelta(days=181)
    dropped = FieldAgeing(ElasticsearchDocumentIndex(privacy.es), policy, privacy.prefix).run(later)
    assert dropped.aged["standard:user_agent.original"] == COUNT - V1_UNTIL
    final = _sources(privacy)
    assert all("user_agent" not in final[s] for s in range(V1_UNTIL + 1, COUNT + 1))
    assert event(1)["user_agent"] == final[1]["user_agent"]
    assert privacy.verify().ok
