"""The chain as the real consumer writes it: ``audit consume`` on a replayed
stream, then digests signed, every organization verified clean, a tampered
event found, and a user's export verified offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.adapters.kafka.publisher import publish
from audit.adapters.kafka.topics import ensure_topics
from audit.domain.export import PROFILES, ExportFormat
from audit.domain.integrity import FindingKind
from audit.replay.mix import mixed_stream
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from audit.services.bundle import verify_bundle
from audit.services.export import ExportRequest
from tests.integration.conftest import Isolated, spawn_consumer
from tests.integration.trail_support import Trail, trail

pytestmark = pytest.mark.integration
__all__ = ["trail"]


def test_consumed_stream_signs_verifies_and_exports(
    isolated: Isolated, trail: Trail, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(hours=10)
    profile = TrafficProfile(
        organizations=6, users_per_organization=5, seed=5, start=start, duration=timedelta(hours=8)
    )
    stream = mixed_stream(TrafficGenerator(profile), 3000, duplicate_ratio=0.05)
    s = isolated.settings
    ensure_topics(s, {s.topic_auth: None, s.topic_security: None, s.topic_dlq: None})
    assert publish(s, stream.messages) == len(stream.messages)
    proc = spawn_consumer(isolated, "--until-idle", "4", log=tmp_path / "consumer.log")
    assert proc.wait(timeout=300) == 0
    trail.refresh()

    heads = trail.wiring.chains.heads()
    assert sum(heads.values()) == len(stream.unique_event_ids)
    now = datetime.now(UTC)
    signer, verifier = trail.wiring.signer(), trail.wiring.verifier()
    for org, head in heads.items():
        assert signer.sign_org(org, now).signed_through == head
    trail.refresh()
    for org, head in heads.items():
        report = verifier.verify(org)
        assert report.findings == [], (org, report.findings[:3])
        assert (report.events, report.last_seq) == (head, head)

    org = max(heads, key=lambda o: heads[o])
    hits = trail.es.search(
        index=trail.prefix, query={"term": {"integrity.chain": org}}, sort=["integrity.seq"], size=5
    )["hits"]["hits"]
    # Found by its hash: ``integrity.hash`` stays searchable (``prev_hash``
    # is kept in _source only, see the events template).
    found = hits[2]["_source"]["integrity"]["hash"]
    by_hash = trail.es.search(index=trail.prefix, query={"term": {"integrity.hash": found}})
    assert [hit["_id"] for hit in by_hash["hits"]["hits"]] == [hits[2]["_id"]]
    victim = hits[3]
    trail.es.update(index=victim["_index"], id=victim["_id"], doc={"event": {"outcome": "x"}})
    trail.refresh()
    report = verifier.verify(org)
    seq = victim["_source"]["integrity"]["seq"]
    assert [(f.kind, f.seq, f.event_id) for f in report.findings] == [
        (FindingKind.MODIFIED, seq, victim["_source"]["event"]["id"])
    ]

    other = min(heads, key=lambda o: heads[o])
    user = trail.es.search(index=trail.prefix, query={"term": {"integrity.chain": other}}, size=1)[
        "hits"
    ]["hits"][0]["_source"]["user"]["id"]
    out = tmp_path / "bundle"
    result = trail.wiring.exporter().export(
        ExportRequest(
            organization_id=other,
            export_format=ExportFormat.NDJSON,
            purpose="portability",
            requester="dpo",
            redaction=PROFILES["none"],
            out_dir=out,
            user_ids=(user,),
        ),
        now,
    )
    assert result.manifest.event_count > 0 and result.skipped == 0
    assert verify_bundle(out) == []
