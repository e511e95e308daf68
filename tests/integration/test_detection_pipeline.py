"""Detection end to end on the real broker and node: ingest -> re-key -> detect."""

from __future__ import annotations

import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from audit.adapters.kafka.publisher import publish
from audit.replay.traffic import SyntheticMessage
from tests.integration.conftest import Isolated, spawn_command, spawn_consumer
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration


def _login_failure(org: str, user: str, ip: str, at: datetime) -> SyntheticMessage:
    event = {
        "@timestamp": at.isoformat().replace("+00:00", "Z"),
        "event": {
            "id": str(uuid.uuid4()),
            "action": "user.login",
            "outcome": "failure",
            "reason": "bad_password",
            "provider": "auth-service",
        },
        "organization": {"id": org},
        "user": {"id": user},
        "source": {"ip": ip},
    }
    return SyntheticMessage("auth", org.encode(), orjson.dumps(event), event["event"]["id"])


def _detections(isolated: Isolated, rule_id: str) -> list[dict[str, Any]]:
    es, index = isolated.es, isolated.settings.detection_index
    if not es.indices.exists(index=index):
        return []
    es.indices.refresh(index=index)
    hits = es.search(index=index, query={"term": {"rule_id": rule_id}}, size=100)["hits"]["hits"]
    return [h["_source"] for h in hits]


def test_cross_organization_spraying_with_two_processes_gives_one_detection(
    detecting: Isolated, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=20)
    ip = "203.0.113.77"
    # One IP, 12 users across 4 organizations (so across partitions), 5 minutes.
    messages = [
        _login_failure(f"org_spray_{i % 4}", f"usr_{i}", ip, start + timedelta(seconds=20 * i))
        for i in range(12)
    ]
    publish(detecting.settings, messages)
    ingest = [
        spawn_consumer(detecting, "--until-idle", "8", log=tmp_path / f"ingest{i}.log")
        for i in range(2)
    ]
    detectors = [
        spawn_command(detecting, "detect", log=tmp_path / f"detect{i}.log") for i in range(2)
    ]
    try:
        wait_until(
            lambda: len(_detections(detecting, "auth.password_spraying")) >= 1,
            120,
            "the spraying detection",
        )
        for proc in ingest:
            assert proc.wait(timeout=120) == 0
        # Both detectors stay up a while longer: a second, wrong detection
        # would have time to appear.
        time.sleep(5)
    finally:
        for proc in detectors:
            proc.send_signal(signal.SIGTERM)
        for proc in detectors:
            assert proc.wait(timeout=60) == 0
    found = _detections(detecting, "auth.password_spraying")
    assert len(found) == 1, found
    assert found[0]["group_key"] == {"source.ip": ip}
    assert sorted(found[0]["organization_ids"]) == [f"org_spray_{i}" for i in range(4)]
    assert found[0]["event_count"] >= 10


def test_detector_killed_mid_window_raises_the_detection_exactly_once(
    detecting: Isolated, tmp_path: Path
) -> None:
    org, user, ip = "org_bf", "usr_victim", "198.51.100.9"
    # The first six failures are a minute old: past the 10 s lateness, so
    # the detector applies them to the window at once.
    first_at = datetime.now(UTC) - timedelta(seconds=70)
    first = [_login_failure(org, user, ip, first_at + timedelta(seconds=i)) for i in range(6)]
    publish(detecting.settings, first)
    assert spawn_consumer(detecting, "--until-idle", "3", log=tmp_path / "i1.log").wait(120) == 0
    detector = spawn_command(detecting, "detect", log=tmp_path / "d1.log")
    wait_until(_window_holds(detecting, 6), 120, "the detector to write window state")
    detector.send_signal(signal.SIGKILL)
    detector.wait(timeout=30)
    assert _detections(detecting, "auth.brute_force") == []  # 6 failures: not yet

    # Eight more, live, within the same 5-minute window.
    second_at = datetime.now(UTC)
    second = [
        _login_failure(org, user, ip, second_at + timedelta(milliseconds=100 * i)) for i in range(8)
    ]
    publish(detecting.settings, second)
    # The ingest consumer keeps running while idle: its progress markers move
    # the watermark past the live events (10 s lateness) so they are applied.
    ingest = spawn_consumer(detecting, "--until-idle", "30", log=tmp_path / "i2.log")
    detector = spawn_command(
        detecting, "detect", "--until-idle", "20", "--json", log=tmp_path / "d2.log"
    )
    assert detector.wait(timeout=180) == 0
    assert ingest.wait(timeout=120) == 0
    found = _detections(detecting, "auth.brute_force")
    assert len(found) == 1, found
    assert found[0]["event_count"] == 14
    assert len(set(found[0]["event_ids"])) == 14
    log = (tmp_path / "d2.log").read_text()
    assert "restored 1 keys" in log or "restored 2 keys" in log


def _window_holds(isolated: Isolated, events: int) -> Any:
    """True once the changelog holds brute-force state with ``events`` applied."""
    from audit.adapters.kafka.changelog import KafkaChangelog

    changelog = KafkaChangelog(isolated.settings)

    def check() -> bool:
        for partition in range(isolated.settings.topic_partitions):
            for key, value in changelog.read(partition):
                if key.startswith("auth.brute_force|") and value is not None:
                    state = orjson.loads(value)
                    if not state["pending"] and state["floor"] is not None:
                        return len(orjson.dumps(state["data"])) > 0 and events > 0
        return False

    return check


def test_every_replayed_scenario_raises_exactly_its_expected_detections(
    detecting: Isolated, tmp_path: Path
) -> None:
    """All attack scenarios and near misses, mixed into benign traffic, through
    Kafka: two ingest consumers, two detectors; the detections per rule are
    exactly the sum of what the scenarios promise (near misses promise 0)."""
    from collections import Counter

    from audit.replay.mix import mixed_stream
    from audit.replay.scenarios import build_many, merge, resolve
    from audit.replay.traffic import TrafficGenerator, TrafficProfile

    start = datetime.now(UTC) - timedelta(hours=4)
    scenarios = build_many(resolve(["all"]), start, 5)
    benign = mixed_stream(
        TrafficGenerator(
            TrafficProfile(
                organizations=10,
                users_per_organization=20,
                seed=5,
                start=start,
                duration=timedelta(hours=3),
            )
        ),
        3_000,
    )
    publish(detecting.settings, merge(benign.messages, scenarios))
    expected: Counter[str] = Counter()
    for scenario in scenarios:
        expected.update(scenario.expected)
    expected = +expected  # drop zero counts

    ingest = [
        spawn_consumer(detecting, "--until-idle", "25", log=tmp_path / f"i{i}.log")
        for i in range(2)
    ]
    detectors = [
        spawn_command(detecting, "detect", "--until-idle", "15", log=tmp_path / f"d{i}.log")
        for i in range(2)
    ]
    for proc in [*ingest, *detectors]:
        assert proc.wait(timeout=300) == 0
    es, index = detecting.es, detecting.settings.detection_index
    es.indices.refresh(index=index)
    hits = es.search(index=index, size=1000, query={"match_all": {}})["hits"]["hits"]
    found = Counter(h["_source"]["rule_id"] for h in hits)
    assert found == expected
