"""The ingest's batch source (librdkafka) on the real broker.

What the ingest loop relies on: every record once, whole (key, value,
headers, timestamp); an end known for every partition, an empty one
included (the detectors' watermark waits for it); commits that a new
member resumes from; nothing delivered while paused for an outage, and
everything after. Records are published with kafka-python, as another
team's producer would, so the two clients are also checked against each
other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kafka import KafkaProducer

from audit.adapters.kafka.batch_source import KafkaBatchSource
from audit.adapters.kafka.topics import ensure_topics
from audit.services.ports.ingest import InboundMessage

from .conftest import Isolated

pytestmark = pytest.mark.integration

PARTITIONS = 3
# Record timestamps a minute old: within the broker's time-based retention
# (7 days). Year-old ones were deleted by its retention check (every 5
# minutes) whenever a check fell inside a test: a member then found its
# committed offset out of range, reset to the new log start and read nothing.
BASE_MS = int(time.time() * 1000) - 60_000


@pytest.fixture
def topics(isolated: Isolated) -> list[str]:
    settings = isolated.settings
    names = [settings.topic_auth, settings.topic_security]
    ensure_topics(settings, dict.fromkeys(names), partitions=PARTITIONS)
    return names


def _publish(isolated: Isolated, topic: str, count: int, partitions: list[int]) -> None:
    producer = KafkaProducer(bootstrap_servers=isolated.settings.kafka_bootstrap, acks="all")
    for i in range(count):
        producer.send(
            topic,
            key=b"k%d" % i,
            value=b'{"n":%d}' % i,
            partition=partitions[i % len(partitions)],
            headers=[("origin", b"test"), ("n", str(i).encode())],
            timestamp_ms=BASE_MS + i,
        )
    producer.flush()
    producer.close()


@pytest.fixture
def sources(isolated: Isolated) -> Iterator[list[KafkaBatchSource]]:
    made: list[KafkaBatchSource] = []
    yield made
    for source in made:
        source.close()


def _source(
    isolated: Isolated, topics: list[str], made: list[KafkaBatchSource]
) -> KafkaBatchSource:
    source = KafkaBatchSource(isolated.settings, topics, isolated.settings.consumer_group)
    made.append(source)
    return source


def _read_all(source: KafkaBatchSource, expected: int, idle: float = 2.0) -> list[InboundMessage]:
    """Until ``expected`` records are in (at most a minute: a group join on
    a loaded broker can take seconds), then until nothing more comes for
    ``idle`` seconds, so that a record delivered twice shows as one too many."""
    got: list[InboundMessage] = []
    deadline = time.monotonic() + 60
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        batch = source.poll_batch(500, 700)
        assert len(batch) <= 700
        if batch:
            got.extend(batch)
            quiet_since = time.monotonic()
        elif len(got) >= expected and time.monotonic() - quiet_since >= idle:
            break
    return got


def test_every_record_once_whole_and_every_partition_caught_up(
    isolated: Isolated, topics: list[str], sources: list[KafkaBatchSource]
) -> None:
    auth, security = topics
    _publish(isolated, auth, 3_000, [0, 1, 2])
    _publish(isolated, security, 500, [0, 1])  # partition 2 stays empty
    source = _source(isolated, topics, sources)

    got = _read_all(source, 3_500)

    assert len(got) == 3_500
    assert len({(m.topic, m.partition, m.offset) for m in got}) == 3_500
    first = next(m for m in got if m.topic == auth and m.partition == 0 and m.offset == 0)
    assert first.key == b"k0" and first.value == b'{"n":0}'
    assert first.headers == (("origin", b"test"), ("n", b"0"))
    assert first.timestamp_ms == BASE_MS
    # The empty partition knows its end too: otherwise a quiet partition
    # would hold the detectors' watermark back for ever.
    assert source.caught_up() == {(t, p): True for t in topics for p in range(PARTITIONS)}
    assert source.owned() == {(t, p) for t in topics for p in range(PARTITIONS)}
    assert set((source.lag(min_interval=0) or {}).values()) == {0}


def test_a_new_member_resumes_after_the_committed_offsets(
    isolated: Isolated, topics: list[str], sources: list[KafkaBatchSource]
) -> None:
    auth = topics[0]
    _publish(isolated, auth, 900, [0, 1, 2])
    first = _source(isolated, topics, sources)
    got = _read_all(first, 900)
    assert len(got) == 900
    # Commit only up to offset 200 of each auth partition (300 each).
    first.commit({(auth, p): 200 for p in range(PARTITIONS)})
    first.close()

    second = _source(isolated, topics, sources)
    again = _read_all(second, 300)

    assert sorted((m.partition, m.offset) for m in again) == sorted(
        (p, o) for p in range(PARTITIONS) for o in range(200, 300)
    )


def test_a_pause_for_an_outage_loses_and_repeats_nothing(
    isolated: Isolated, topics: list[str], sources: list[KafkaBatchSource]
) -> None:
    auth = topics[0]
    _publish(isolated, auth, 6_000, [0, 1, 2])
    source = _source(isolated, topics, sources)
    got: list[InboundMessage] = []
    while not got:
        got.extend(source.poll_batch(1000, 500))

    owned = source.wait_paused(3.0)
    assert owned == {(t, p) for t in topics for p in range(PARTITIONS)}
    # Published meanwhile, while paused: not delivered either.
    _publish(isolated, auth, 300, [0])
    assert source.wait_paused(2.0) == owned

    source.resume_all()
    got.extend(_read_all(source, 6_300 - len(got)))

    assert len(got) == 6_300
    assert len({(m.partition, m.offset) for m in got}) == 6_300


def test_a_subscribed_topic_created_after_the_member_joined_is_read_within_seconds(
    isolated: Isolated, sources: list[KafkaBatchSource]
) -> None:
    # One of the two audit topics does not exist yet when the consumer
    # starts (its producers create it later): it must not wait for
    # librdkafka's default metadata refresh, five minutes.
    settings = isolated.settings
    present, late = settings.topic_auth, settings.topic_security
    ensure_topics(settings, {present: None}, partitions=PARTITIONS)
    _publish(isolated, present, 30, [0, 1, 2])
    source = _source(isolated, [present, late], sources)
    assert len(_read_all(source, 30)) == 30
    source.commit({(present, p): 10 for p in range(PARTITIONS)})

    ensure_topics(settings, {late: None}, partitions=PARTITIONS)
    _publish(isolated, late, 30, [0, 1, 2])
    began = time.monotonic()
    more = _read_all(source, 30)

    assert len(more) == 30
    assert {m.topic for m in more} == {late}
    assert time.monotonic() - began < 30
    assert source.owned() == {(t, p) for t in (present, late) for p in range(PARTITIONS)}
