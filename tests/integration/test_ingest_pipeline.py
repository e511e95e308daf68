"""The ingest path against the real broker and node: once, complete, nothing lost."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.adapters.kafka.publisher import publish
from audit.adapters.kafka.topics import ensure_topics
from audit.replay.mix import MALFORMED_KINDS, MixedStream, mixed_stream
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from tests.integration.conftest import Isolated, RunningStack, spawn_consumer
from tests.integration.helpers import (
    chain_findings,
    dead_letters,
    stored_count,
    stored_ids,
    wait_until,
)

pytestmark = pytest.mark.integration


def _stream(
    total: int, *, malformed: float = 0.0, duplicates: float = 0.0, seed: int = 11
) -> MixedStream:
    start = datetime.now(UTC) - timedelta(hours=30)
    profile = TrafficProfile(
        organizations=30,
        users_per_organization=20,
        seed=seed,
        start=start,
        duration=timedelta(hours=28),
    )
    return mixed_stream(
        TrafficGenerator(profile), total, malformed_ratio=malformed, duplicate_ratio=duplicates
    )


def _publish(isolated: Isolated, stream: MixedStream) -> None:
    s = isolated.settings
    ensure_topics(s, {s.topic_auth: None, s.topic_security: None, s.topic_dlq: None})
    assert publish(s, stream.messages) == len(stream.messages)


def _finish(proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    assert proc.wait(timeout=timeout) == 0


def _assert_exactly_stored(isolated: Isolated, stream: MixedStream) -> None:
    ids = stored_ids(isolated.es, isolated.settings)
    repeated = [i for i, n in collections.Counter(ids).items() if n > 1]
    assert repeated == [], f"stored more than once: {repeated[:5]}"
    assert set(ids) == set(stream.unique_event_ids)
    # Every organization's hash chain is whole: no gap, no fork, no re-start.
    assert chain_findings(isolated.es, isolated.settings) == {}


def test_mixed_stream_stores_valid_events_once_and_dead_letters_the_rest(
    isolated: Isolated, tmp_path: Path
) -> None:
    stream = _stream(10_000, malformed=0.01, duplicates=0.05)
    assert stream.malformed == 100 and stream.duplicates == 500
    _publish(isolated, stream)

    _finish(spawn_consumer(isolated, "--until-idle", "4", log=tmp_path / "consumer.log"))

    _assert_exactly_stored(isolated, stream)
    letters = dead_letters(isolated.settings)
    assert len(letters) == stream.malformed
    expected = {
        m.value: MALFORMED_KINDS[m.malformed_kind][1] for m in stream.messages if m.malformed_kind
    }
    for letter in letters:
        assert letter.value in expected, "a valid message reached the dead-letter topic"
        assert letter.headers["error.type"] == expected[letter.value]
        assert letter.headers["error.message"]
        assert letter.headers["source.topic"] == isolated.settings.topic_auth
        assert int(letter.headers["source.offset"]) >= 0
        assert letter.headers["content-type"] == "application/json"  # original headers kept
    assert {letter.value for letter in letters} == set(expected)


def test_sigkill_mid_stream_then_restart_loses_and_duplicates_nothing(
    isolated: Isolated, tmp_path: Path
) -> None:
    stream = _stream(30_000, seed=12)
    _publish(isolated, stream)
    proc = spawn_consumer(isolated, log=tmp_path / "consumer-1.log")
    wait_until(
        lambda: stored_count(isolated.es, isolated.settings) > 3_000,
        120,
        "the first consumer to store some events",
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert 0 < stored_count(isolated.es, isolated.settings) < len(stream.unique_event_ids)

    _finish(spawn_consumer(isolated, "--until-idle", "4", log=tmp_path / "consumer-2.log"))
    _assert_exactly_stored(isolated, stream)


def test_elasticsearch_outage_pauses_and_resumes_without_loss(
    stack: RunningStack, isolated: Isolated, tmp_path: Path
) -> None:
    stream = _stream(30_000, seed=13)
    _publish(isolated, stream)
    log = tmp_path / "consumer.log"
    proc = spawn_consumer(isolated, "--until-idle", "6", "--json", log=log)
    wait_until(
        lambda: stored_count(isolated.es, isolated.settings) > 2_000,
        120,
        "the consumer to store some events",
    )
    stack.stack.stop_es()
    try:
        # ~20 s of outage; the consumer must neither exit nor commit meanwhile.
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    finally:
        stack.stack.start_es(timeout=180)
    _finish(proc)
    _assert_exactly_stored(isolated, stream)
    summary = json.loads(log.read_text().strip().splitlines()[-1])
    assert summary["retries"] >= 1
    assert dead_letters(isolated.settings) == []


def test_two_consumers_share_partitions_and_a_rebalance_loses_nothing(
    isolated: Isolated, tmp_path: Path
) -> None:
    stream = _stream(40_000, seed=14)
    _publish(isolated, stream)
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = spawn_consumer(isolated, "--json", log=log_a)
    wait_until(
        lambda: stored_count(isolated.es, isolated.settings) > 2_000,
        120,
        "consumer A to store some events",
    )
    # B joins mid-stream: a rebalance moves some of A's partitions to B.
    b = spawn_consumer(isolated, "--until-idle", "8", "--json", log=log_b)
    wait_until(
        lambda: stored_count(isolated.es, isolated.settings) > 15_000,
        180,
        "both consumers to progress",
    )
    # A leaves mid-stream (graceful stop): a second rebalance hands all to B.
    a.send_signal(signal.SIGTERM)
    _finish(a, timeout=120)
    _finish(b)
    _assert_exactly_stored(isolated, stream)
    consumed_a = json.loads(log_a.read_text().strip().splitlines()[-1])["consumed"]
    consumed_b = json.loads(log_b.read_text().strip().splitlines()[-1])["consumed"]
    assert consumed_a > 0 and consumed_b > 0
    assert consumed_a + consumed_b >= len(stream.messages)
