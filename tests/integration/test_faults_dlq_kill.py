"""Issue 11 item 16: the consumer SIGKILLed while the dead-letter producer is flushing.

Mostly malformed messages (each one unique) so that the consumer spends its
time dead-lettering; it is killed as soon as the dead-letter topic starts to
fill, then a second consumer runs until idle. Every rejected message must be
in the dead-letter topic at least once (more is allowed: at-least-once),
never zero.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from audit.adapters.kafka.publisher import publish
from audit.adapters.kafka.topics import ensure_topics
from audit.replay.traffic import SyntheticMessage

from .conftest import Isolated, spawn_consumer
from .helpers import dead_letters, wait_until

pytestmark = pytest.mark.integration
MALFORMED = 20_000


def _dead_lettered(isolated: Isolated) -> int:
    s = isolated.settings
    consumer = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(s.topic_dlq, p) for p in range(s.topic_partitions)]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def test_item16_sigkill_while_dead_lettering_loses_no_rejected_message(
    isolated: Isolated, tmp_path: Path
) -> None:
    s = isolated.settings
    ensure_topics(s, {s.topic_auth: None, s.topic_security: None, s.topic_dlq: None})
    bad = [
        SyntheticMessage(
            "auth", f"org_{n % 7}".encode(), b'{"broken": ' + str(n).encode(), None, "truncated"
        )
        for n in range(MALFORMED)
    ]
    assert publish(s, bad) == MALFORMED
    first = spawn_consumer(isolated, log=tmp_path / "consumer-1.log")
    wait_until(lambda: _dead_lettered(isolated) > 0, 180, "the first dead letters", 0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert _dead_lettered(isolated) < MALFORMED  # killed mid-way, not after the end

    second = spawn_consumer(isolated, "--until-idle", "4", log=tmp_path / "consumer-2.log")
    assert second.wait(timeout=600) == 0
    letters = [letter.value for letter in dead_letters(s)]
    missing = {m.value for m in bad} - set(letters)
    assert not missing, f"{len(missing)} rejected messages never dead-lettered"
    assert len(letters) >= MALFORMED
