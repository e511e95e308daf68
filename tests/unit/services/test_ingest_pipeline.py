"""The ingest pipeline (prepare / first_attempt / finish) against the fakes of its ports.

What is asserted is the contract of a batch: every accepted event stored
once, every refused message dead-lettered with its reason, offsets to
commit only once both are acknowledged, outages waited out with back-off.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from audit.adapters.kafka.delivery import UndeliveredRecords
from audit.domain.detection.routing import Router
from audit.domain.retention import index_name
from audit.errors import StoreUnavailable
from audit.services.chain_keeper import ChainKeeper
from audit.services.ingest import NOT_ATTEMPTED, STORE_REJECTED, Backoff, IngestPipeline
from audit.services.ports.ingest import BulkOutcome, InboundMessage
from tests.fakes.clock import FakeClock
from tests.fakes.ingest import FakeDeadLetterSink, FakeDetectionFeed, FakeEventStore, FakeMetrics
from tests.unit.detection.helpers import pack

TOPIC = "audit.events"
RECEIVED = datetime(2026, 11, 26, 9, 15, tzinfo=UTC)


def event(event_id: str, *, org: str = "org_a", when: str = "2026-11-26T09:14:03Z") -> bytes:
    document: dict[str, Any] = {
        "@timestamp": when,
        "event": {
            "id": event_id,
            "action": "user.login",
            "outcome": "failure",
            "reason": "bad_password",
            "provider": "auth-service",
        },
        "organization": {"id": org},
        "user": {"id": "usr_1"},
        "source": {"ip": "198.51.100.23"},
    }
    return orjson.dumps(document)


def msg(offset: int, value: bytes | None, *, partition: int = 0) -> InboundMessage:
    return InboundMessage(TOPIC, partition, offset, b"k", value)


class Waits:
    """The runtime's wait: records delays; ``owned`` are the partitions still ours."""

    def __init__(self, owned: Collection[tuple[str, int]] = ((TOPIC, 0), (TOPIC, 1))) -> None:
        self.delays: list[float] = []
        self.owned = set(owned)
        self.on_wait: list[Any] = []

    def __call__(self, delay: float) -> Collection[tuple[str, int]]:
        self.delays.append(delay)
        if self.on_wait:
            self.on_wait.pop(0)()
        return self.owned


class World:
    def __init__(self, *, chain: bool = False, routed: bool = False) -> None:
        self.store = FakeEventStore()
        self.dead = FakeDeadLetterSink()
        self.metrics = FakeMetrics()
        self.feed = FakeDetectionFeed()
        self.waits = Waits()
        self.clock = FakeClock(RECEIVED)
        self.router = Router(pack().values()) if routed else None
        self.pipeline = self.build(chain=ChainKeeper(self.store) if chain else None)

    def build(self, chain: ChainKeeper | None) -> IngestPipeline:
        return IngestPipeline(
            store=self.store,
            dead_letters=self.dead,
            metrics=self.metrics,
            index_for=lambda e: index_name("standard", e.timestamp),
            clock=self.clock,
            wait=self.waits,
            backoff=Backoff(initial=0.5, maximum=2.0),
            detection_feed=self.feed if self.router else None,
            router=self.router,
            chain=chain,
        )


INDEX = "audit-events-standard-2026.11.26"


def test_a_batch_stores_valid_events_dead_letters_the_rest_and_commits_past_all() -> None:
    world = World()
    batch = [msg(0, event("e1")), msg(1, b"{not json"), msg(2, event("e2")), msg(3, None)]

    report = world.pipeline.process(batch)

    assert (report.consumed, report.stored, report.rejected, report.duplicates) == (4, 2, 2, 0)
    assert set(world.store.indices[INDEX]) == {"e1", "e2"}
    assert world.store.indices[INDEX]["e1"]["event"]["ingested"].startswith("2026-11-26T09:15")
    assert [(d.message.offset, d.error_type) for d in world.dead.delivered] == [
        (1, "json"),
        (3, "empty"),
    ]
    assert world.dead.queued == []  # flushed before the offsets are handed back
    assert report.commit_offsets == {(TOPIC, 0): 4}
    assert world.metrics.total("audit_events_stored_total", topic=TOPIC) == 2
    assert world.metrics.total("audit_events_rejected_total") == 2
    assert world.waits.delays == []


def test_a_redelivered_batch_is_counted_as_duplicates_and_stored_once() -> None:
    world = World()
    batch = [msg(0, event("e1")), msg(1, event("e2"))]
    world.pipeline.process(batch)

    again = world.pipeline.process(batch)

    assert (again.stored, again.duplicates, again.rejected) == (0, 2, 0)
    assert world.store.count() == 2
    assert again.commit_offsets == {(TOPIC, 0): 2}
    assert world.metrics.total("audit_events_duplicate_total", topic=TOPIC) == 2


def test_the_same_event_twice_in_one_batch_is_stored_once() -> None:
    world = World()
    report = world.pipeline.process([msg(0, event("e1")), msg(1, event("e1"))])
    assert (report.stored, report.duplicates) == (1, 1)
    assert world.store.count() == 1


def test_an_unavailable_store_is_waited_out_with_backoff_and_nothing_is_lost() -> None:
    world = World()
    world.store.outages.down(3)
    batch = [msg(0, event("e1")), msg(1, event("e2"))]

    prepared = world.pipeline.prepare(batch)
    first = world.pipeline.first_attempt(prepared)
    assert isinstance(first, StoreUnavailable)
    assert world.store.count() == 0

    report = world.pipeline.finish(prepared, first)

    assert world.waits.delays == [0.5, 1.0, 2.0]  # doubling, capped at the maximum
    assert report.retries == 3
    assert report.stored == 2
    assert report.commit_offsets == {(TOPIC, 0): 2}
    assert world.metrics.total("audit_store_retries_total", reason="unavailable") == 3


def test_an_unknown_retention_class_is_waited_for_and_asked_again_per_wait() -> None:
    world = World()
    answers: list[str | None] = [None, None, INDEX]  # the store cannot say twice

    def index_for(_event: object) -> str:
        answer = answers.pop(0)
        if answer is None:
            raise StoreUnavailable("organization settings unreachable")
        return answer

    world.pipeline._index_for = index_for
    report = world.pipeline.process([msg(0, event("e1"))])

    assert world.waits.delays == [0.5, 1.0]  # one wait per failed answer, before asking again
    assert answers == [] and report.retries == 2 and report.stored == 1
    assert world.store.count() == 1
    assert world.metrics.total("audit_store_retries_total", reason="unavailable") == 2


def test_a_partial_bulk_failure_dead_letters_the_refused_and_retries_the_overloaded() -> None:
    world = World()
    # Yesterday's index is write-blocked by retention: a late event for it is refused.
    late_index = "audit-events-standard-2026.11.25"
    world.store.write_blocked.add(late_index)
    world.store.indices[INDEX] = {"e3": {"already": "stored"}}  # a 409
    world.store.overload(1)  # the first document of the first bulk gets a 429
    batch = [
        msg(0, event("e1")),
        msg(1, event("late", when="2026-11-25T23:59:00Z")),
        msg(2, event("e3")),
        msg(3, event("e4")),
    ]

    report = world.pipeline.process(batch)

    assert (report.stored, report.duplicates, report.rejected) == (2, 1, 1)
    assert set(world.store.indices[INDEX]) == {"e1", "e3", "e4"}
    assert late_index not in world.store.indices
    (dead,) = world.dead.delivered
    assert dead.message.offset == 1
    assert dead.error_type == STORE_REJECTED
    assert dead.error_message.startswith("cluster_block_exception")
    assert report.rejected_by_reason == {STORE_REJECTED: 1}
    # Only the overloaded document was written again, after one back-off.
    assert world.waits.delays == [0.5]
    assert [d.doc_id for d in world.store.bulk_requests[-1]] == ["e1"]
    assert world.metrics.total("audit_store_retries_total", reason="overloaded") == 1
    assert report.commit_offsets == {(TOPIC, 0): 4}


def test_a_refusal_reason_reaches_the_dead_letter_topic() -> None:
    world = World()
    world.store.refuse(
        lambda doc: (
            "illegal_argument_exception: limit of total fields exceeded"
            if doc.doc_id == "e2"
            else None
        )
    )
    report = world.pipeline.process([msg(0, event("e1")), msg(1, event("e2"))])
    assert (report.stored, report.rejected) == (1, 1)
    assert world.dead.delivered[0].error_message == (
        "illegal_argument_exception: limit of total fields exceeded"
    )


def test_partitions_lost_while_waiting_are_neither_stored_nor_committed() -> None:
    world = World()
    world.store.outages.down(1)
    world.waits.owned = {(TOPIC, 0)}  # a rebalance took partition 1 during the outage
    batch = [msg(0, event("e1"), partition=0), msg(0, event("e2"), partition=1)]

    report = world.pipeline.process(batch)

    assert set(world.store.indices[INDEX]) == {"e1"}
    assert report.commit_offsets == {(TOPIC, 0): 1}


def test_dead_letters_are_flushed_before_offsets_are_returned() -> None:
    world = World()
    world.dead.broker_down()
    with pytest.raises(UndeliveredRecords):
        world.pipeline.process([msg(0, b"[]")])
    # The flush failed: the batch is not reported done (the caller commits nothing).
    assert world.dead.delivered == []
    assert len(world.dead.failed) == 1


def test_routed_records_not_acknowledged_fail_the_batch_before_its_offsets() -> None:
    world = World(routed=True)
    world.feed.broker_down()
    with pytest.raises(UndeliveredRecords):
        world.pipeline.process([msg(0, event("e1"))])
    assert world.feed.delivered == []
    assert world.feed.failed


def test_the_chain_is_extended_once_per_event_even_across_outages_and_redelivery() -> None:
    world = World(chain=True)
    world.store.outages.down(1)  # the real-time GET before sealing fails once
    batch = [msg(0, event("e1")), msg(1, event("e2", org="org_b")), msg(2, event("e3"))]

    report = world.pipeline.process(batch)
    assert report.stored == 3
    seqs = {
        doc_id: (doc["integrity"]["chain"], doc["integrity"]["seq"])
        for doc_id, doc in world.store.indices[INDEX].items()
    }
    assert seqs == {"e1": ("org_a", 1), "e2": ("org_b", 1), "e3": ("org_a", 2)}
    assert (
        world.store.indices[INDEX]["e3"]["integrity"]["prev_hash"]
        == world.store.indices[INDEX]["e1"]["integrity"]["hash"]
    )

    # A restart: a new keeper recovers the heads from the store; the
    # redelivered events are found stored and not chained again.
    world.pipeline = world.build(chain=ChainKeeper(world.store))
    again = world.pipeline.process([*batch, msg(3, event("e4"))])
    assert (again.stored, again.duplicates) == (1, 3)
    assert world.store.indices[INDEX]["e4"]["integrity"]["seq"] == 3
    assert (
        world.store.indices[INDEX]["e4"]["integrity"]["prev_hash"]
        == world.store.indices[INDEX]["e3"]["integrity"]["hash"]
    )


def test_accepted_events_and_duplicates_go_on_to_detection_with_their_progress() -> None:
    world = World(routed=True)
    world.pipeline.process([msg(0, event("e1")), msg(1, b"{")])
    first = list(world.feed.delivered)
    assert first, "a failed login feeds at least one rule"
    assert {r.time_us for r in first} == {
        int(datetime(2026, 11, 26, 9, 14, 3, tzinfo=UTC).timestamp() * 1_000_000)
    }
    assert world.pipeline.progress == {(TOPIC, 0): first[0].time_us}

    world.pipeline.process([msg(0, event("e1"))])  # redelivered after a crash
    assert len(world.feed.delivered) == 2 * len(first)
    assert world.feed.queued == []


def test_an_empty_batch_writes_nothing() -> None:
    world = World()
    prepared = world.pipeline.prepare([])
    assert world.pipeline.first_attempt(prepared) == BulkOutcome(items=())
    report = world.pipeline.finish(prepared, BulkOutcome(items=()))
    assert report.commit_offsets == {}
    assert world.store.bulk_requests == []


def test_the_fake_store_keeps_its_own_copy_of_each_document() -> None:
    world = World()
    world.pipeline.process([msg(0, event("e1"))])
    stored = world.store.indices[INDEX]["e1"]
    snapshot = copy.deepcopy(stored)
    world.store.bulk_requests[0][0].source["event"]["id"] = "mutated"
    assert world.store.indices[INDEX]["e1"] == snapshot


def test_a_batch_waits_to_be_written_until_the_one_before_it_is_wholly_answered() -> None:
    """The runtime writes batch 2 while batch 1 is being finished. When batch
    1's first write left an overloaded document to retry, batch 2 is not
    sealed nor written by its first attempt: its links must follow that
    document, and its duplicate check must see it (here batch 2 carries it
    again, as a producer's resend)."""
    world = World(chain=True)
    world.store.overload(1)  # e1, the first document of the first bulk, gets a 429
    one = world.pipeline.prepare([msg(0, event("e1")), msg(1, event("e2"))])
    two = world.pipeline.prepare([msg(2, event("e1")), msg(3, event("e3"))])

    first_one = world.pipeline.first_attempt(one)
    first_two = world.pipeline.first_attempt(two, after=first_one)

    assert first_two is NOT_ATTEMPTED
    assert set(world.store.indices[INDEX]) == {"e2"}
    report_one = world.pipeline.finish(one, first_one)
    report_two = world.pipeline.finish(two, first_two)

    assert (report_one.stored, report_two.stored, report_two.duplicates) == (2, 1, 1)
    stored = world.store.indices[INDEX]
    assert sorted(doc["integrity"]["seq"] for doc in stored.values()) == [1, 2, 3]
    # No fork, no gap: e1 chained once (by batch 1), e3 links after e2.
    assert stored["e1"]["integrity"]["seq"] == 1
    assert stored["e3"]["integrity"]["seq"] == 3
    assert stored["e3"]["integrity"]["prev_hash"] == stored["e2"]["integrity"]["hash"]


def test_a_batch_is_written_at_once_when_the_one_before_it_is_wholly_answered() -> None:
    world = World(chain=True)
    one = world.pipeline.prepare([msg(0, event("e1"))])
    two = world.pipeline.prepare([msg(1, event("e2"))])

    first_one = world.pipeline.first_attempt(one)
    first_two = world.pipeline.first_attempt(two, after=first_one)

    assert isinstance(first_two, BulkOutcome)
    assert set(world.store.indices[INDEX]) == {"e1", "e2"}
    assert world.pipeline.finish(one, first_one).stored == 1
    assert world.pipeline.finish(two, first_two).stored == 1
    assert world.store.indices[INDEX]["e2"]["integrity"]["seq"] == 2


def test_a_duplicate_check_made_ahead_is_completed_with_what_the_batch_before_stored() -> None:
    """The runtime checks batch 2 for duplicates while batch 1 is written.
    Batch 2 resends e1, which that check could not see: e1 is answered as a
    duplicate, chained once, and e3 links after e2."""
    world = World(chain=True)
    one = world.pipeline.prepare([msg(0, event("e1")), msg(1, event("e2"))])
    two = world.pipeline.prepare([msg(2, event("e1")), msg(3, event("e3"))])
    checked = world.pipeline.check_duplicates(two)
    assert checked == set()

    first_one = world.pipeline.first_attempt(one)
    first_two = world.pipeline.first_attempt(two, after=first_one, checked=checked, before=one)

    assert world.pipeline.finish(one, first_one).stored == 2
    report_two = world.pipeline.finish(two, first_two)
    assert (report_two.stored, report_two.duplicates) == (1, 1)
    stored = world.store.indices[INDEX]
    assert [doc.doc_id for doc in world.store.bulk_requests[1]] == ["e3"]
    assert stored["e3"]["integrity"]["seq"] == 3
    assert stored["e3"]["integrity"]["prev_hash"] == stored["e2"]["integrity"]["hash"]


def test_an_event_the_batch_before_could_not_store_is_written_when_resent() -> None:
    """Refused in batch 1 (dead-lettered), e1 is not stored: batch 2's resend
    of it is written, not taken for a duplicate of what batch 1 tried."""
    world = World(chain=True)
    refusals = iter(["mapper_parsing_exception: failed to parse"])
    world.store.refuse(lambda doc: next(refusals, None) if doc.doc_id == "e1" else None)
    one = world.pipeline.prepare([msg(0, event("e1"))])
    two = world.pipeline.prepare([msg(1, event("e1"))])
    checked = world.pipeline.check_duplicates(two)

    first_one = world.pipeline.first_attempt(one)
    first_two = world.pipeline.first_attempt(two, after=first_one, checked=checked, before=one)

    assert world.pipeline.finish(one, first_one).rejected == 1
    assert world.pipeline.finish(two, first_two).stored == 1
    assert "e1" in world.store.indices[INDEX]
