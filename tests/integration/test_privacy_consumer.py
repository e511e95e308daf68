"""The real ingest consumer with a key-encryption key seals version-2
links: the stored events keep their values, the links carry commitments,
subject keys land in their own index encrypted, and every chain verifies
with its personal values checked."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.adapters.kafka.publisher import publish
from audit.adapters.kafka.topics import ensure_topics
from audit.replay.mix import mixed_stream
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from tests.integration.conftest import Isolated, spawn_consumer
from tests.integration.trail_support import Trail, trail

pytestmark = pytest.mark.integration
__all__ = ["trail"]


def test_consumer_seals_version_2_with_a_kek(
    isolated: Isolated, trail: Trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = trail.prefix.removesuffix("-events")
    kek = base64.b64encode(os.urandom(32)).decode()
    extra = {
        "AUDIT_PRIVACY_KEK": kek,
        "AUDIT_SUBJECT_KEY_INDEX": f"{tag}-subject-keys",
        "AUDIT_ERASURE_INDEX": f"{tag}-erasures",
        "AUDIT_DSR_INDEX": f"{tag}-dsr",
    }
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    profile = TrafficProfile(
        organizations=3,
        users_per_organization=5,
        seed=15,
        start=datetime.now(UTC) - timedelta(hours=6),
        duration=timedelta(hours=5),
    )
    stream = mixed_stream(TrafficGenerator(profile), 1000, duplicate_ratio=0.05)
    s = isolated.settings
    ensure_topics(s, {s.topic_auth: None, s.topic_security: None, s.topic_dlq: None})
    assert publish(s, stream.messages) == len(stream.messages)
    proc = spawn_consumer(
        isolated,
        "--until-idle",
        "4",
        log=tmp_path / "consumer.log",
        extra_env={**trail.env, **extra},
    )
    assert proc.wait(timeout=300) == 0
    trail.refresh()

    hits = trail.es.search(index=trail.prefix, size=1000, query={"exists": {"field": "user.id"}})
    sources = [h["_source"] for h in hits["hits"]["hits"]]
    assert sources and {s["integrity"].get("v") for s in sources} == {2}
    one = sources[0]
    assert one["user"]["id"] and "user.id" in one["integrity"]["commitments"]
    assert one["user"]["id"] not in str(one["integrity"])
    keys = trail.es.search(index=f"{tag}-subject-keys", size=1)["hits"]["hits"]
    assert keys and set(keys[0]["_source"]) == {"wrapped"}

    heads = trail.wiring.chains.heads()
    assert sum(heads.values()) == len(stream.unique_event_ids)
    verifier = trail.wiring.verifier()  # settings of the fixture: no KEK yet
    from audit.settings import load_settings
    from audit.wiring.trail import build_trail

    with_kek = build_trail(load_settings(), trail.es).verifier()
    for org in heads:
        assert with_kek.verify(org).findings == []
    # Without the KEK the hashes still verify; the values are said unchecked.
    report = verifier.verify(next(iter(heads)))
    assert [f.kind.value for f in report.findings] == ["key_missing"]
