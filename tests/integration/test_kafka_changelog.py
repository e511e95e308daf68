"""The detector's state changelog on the real broker.

What the detector relies on: what a flush returned from is read back per
partition, oldest first, tombstones included, by the restore of a later
owner; a busy key written as a head and time segments (keys with NUL
bytes, order within the partition) restores as it was; a key's state
larger than the broker's default message limit (a
burst on one key) is written and restored whole; and a state record the
broker refused fails the flush, so that the offsets it covers are not
committed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import orjson
import pytest

from audit.adapters.kafka.changelog import KafkaChangelog
from audit.adapters.kafka.delivery import UndeliveredRecords
from audit.adapters.kafka.topics import ensure_detection_topics, ensure_topics
from audit.domain.detection.segments import is_segment
from audit.settings import Settings
from tests.unit.detection.test_segments import chunks, run, states
from tests.unit.detection.test_segments import stream as segment_stream
from tests.unit.detection.test_segments import task as segmented_task

from .conftest import Isolated

pytestmark = pytest.mark.integration

# message.max.bytes of a broker left at its defaults (and of a topic without its own)
BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588


def _own_topics(isolated: Isolated) -> Settings:
    """The test's own routed and changelog topics (the defaults are shared)."""
    base = isolated.settings.topic_auth
    return isolated.settings.model_copy(
        update={"topic_routed": f"{base}.routed", "topic_changelog": f"{base}.changelog"}
    )


@pytest.fixture
def settings(isolated: Isolated) -> Settings:
    return _own_topics(isolated)


@pytest.fixture
def changelog(settings: Settings) -> Iterator[KafkaChangelog]:
    ensure_detection_topics(settings)
    made = KafkaChangelog(settings)
    try:
        yield made
    finally:
        made.close()


def test_what_a_flush_returned_from_is_restored_per_partition_in_order(
    settings: Settings, changelog: KafkaChangelog
) -> None:
    changelog.write(0, [("rule|a", b'{"n":1}'), ("rule|b", b'{"n":2}')])
    changelog.write(1, [("rule|c", b'{"n":3}')])
    changelog.write(0, [("rule|a", b'{"n":4}'), ("rule|b", None)])
    changelog.flush()

    # A later owner's restore: another client, another process's view.
    restoring = KafkaChangelog(settings)
    assert list(restoring.read(0)) == [
        ("rule|a", b'{"n":1}'),
        ("rule|b", b'{"n":2}'),
        ("rule|a", b'{"n":4}'),
        ("rule|b", None),
    ]
    assert list(restoring.read(1)) == [("rule|c", b'{"n":3}')]
    assert list(restoring.read(2)) == []


def test_keys_written_in_time_segments_restore_from_the_topic_as_they_were(
    settings: Settings, changelog: KafkaChangelog
) -> None:
    original = segmented_task()
    for turn, part in enumerate(chunks(segment_stream(11, 1_500), 300)):
        run(original, part, until_s=turn * 75 - 70)
        changelog.write(0, original.take_changes())
        changelog.flush()
    written = list(KafkaChangelog(settings).read(0))
    assert sum(is_segment(key) for key, _ in written) > 20
    again = segmented_task()
    again.restore(written)
    assert states(again) == states(original) != {}


def test_a_window_larger_than_the_brokers_default_limit_is_restored_whole(
    settings: Settings, changelog: KafkaChangelog
) -> None:
    # A password-spraying window: one source IP, 20,000 users within the
    # window; its JSON (~1.3 MiB) is over the broker's default limit.
    window = [
        [1_764_000_000_000_000 + i, f"evt-{i:06d}", "org_a", 0, {"user.id": f"usr_{i:06d}"}, 1]
        for i in range(20_000)
    ]
    state = orjson.dumps({"v": 2, "rule_id": "auth.password_spraying", "data": window})
    assert len(state) > BROKER_DEFAULT_MAX_MESSAGE_BYTES
    changelog.write(2, [("auth.password_spraying|198.51.100.23", state)])
    changelog.flush()
    assert list(KafkaChangelog(settings).read(2)) == [
        ("auth.password_spraying|198.51.100.23", state)
    ]


def test_a_state_record_the_broker_refused_fails_the_flush(settings: Settings) -> None:
    # Refuses records over 2,000 bytes: librdkafka reports MSG_SIZE_TOO_LARGE
    # to the delivery callback, not to produce() or flush().
    ensure_topics(
        settings,
        {settings.topic_changelog: {"cleanup.policy": "compact", "max.message.bytes": "2000"}},
    )
    changelog = KafkaChangelog(settings)
    try:
        # (random bytes: compression cannot bring them under the limit)
        changelog.write(0, [("rule|small", b"{}"), ("rule|large", os.urandom(5000))])
        with pytest.raises(UndeliveredRecords):
            changelog.flush()
        # The failure is reported once; what is written after is judged alone.
        changelog.write(0, [("rule|small", b"{}")])
        changelog.flush()
    finally:
        changelog.close()
