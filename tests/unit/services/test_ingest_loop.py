"""The ingest run loop over in-memory ports: commit after the bulk answer,
counts summed, progress published, revoke settles the bulk in flight,
a stop during an outage commits nothing."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import orjson

from audit.errors import StoreUnavailable
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from audit.services.chain_keeper import ChainKeeper
from audit.services.ingest import IngestPipeline
from audit.services.ingest_loop import IngestLoop, LoopOptions, OutageWait, StopSignal
from audit.services.ports.ingest import (
    BulkItem,
    BulkOutcome,
    InboundMessage,
    Partition,
    StoredDocument,
)
from tests.fakes.ingest import FakeEventStore

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
TOPIC = "audit.auth"


def _batch(partition: int, first_offset: int, count: int, seed: int) -> list[InboundMessage]:
    profile = TrafficProfile(seed=seed, start=NOW - timedelta(hours=1), duration=timedelta(hours=1))
    events = TrafficGenerator(profile).events(count)
    return [
        InboundMessage(TOPIC, partition, first_offset + i, None, orjson.dumps(event))
        for i, event in enumerate(events)
    ]


class Journal(list[str]):
    """The order in which the ports were called."""


class Source:
    def __init__(self, batches: list[list[InboundMessage]], journal: Journal) -> None:
        self.batches = batches
        self.journal = journal
        self.commits: list[dict[Partition, int]] = []
        self.on_revoke: Callable[[], None] = lambda: None
        self.on_assign: Callable[[], None] = lambda: None
        self.revoke_on_poll: int | None = None
        self.gate: threading.Event | None = None  # opened only once the revoke began
        self.polls = 0
        self.broker_up = True

    def reachable(self) -> bool:
        return self.broker_up

    def set_rebalance_hooks(
        self, on_revoke: Callable[[], None], on_assign: Callable[[], None]
    ) -> None:
        self.on_revoke, self.on_assign = on_revoke, on_assign

    def poll_batch(self, timeout_ms: int, max_records: int) -> list[InboundMessage]:
        self.polls += 1
        if self.polls == self.revoke_on_poll:
            self.journal.append("revoke")
            if self.gate is not None:
                threading.Timer(0.05, self.gate.set).start()
            self.on_revoke()
            self.journal.append("revoked")
        return self.batches.pop(0) if self.batches else []

    def owned(self) -> set[Partition]:
        return {(TOPIC, 0), (TOPIC, 1)}

    def wait_paused(self, seconds: float) -> set[Partition]:
        return self.owned()

    def resume_all(self) -> None:
        pass

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        self.journal.append("commit")
        self.commits.append(dict(offsets))

    def caught_up(self) -> dict[Partition, bool]:
        return dict.fromkeys(self.owned(), not self.batches)

    def lag(self) -> dict[Partition, int] | None:
        return None

    def close(self) -> None:
        pass


class Store:
    def __init__(self, journal: Journal, gate: threading.Event | None = None) -> None:
        self.journal = journal
        self.gate = gate
        self.ids: set[str] = set()
        self.unavailable = False

    def bulk_create(self, documents: Sequence[StoredDocument]) -> BulkOutcome:
        if self.gate is not None:
            self.gate.wait(5)
        if self.unavailable:
            raise StoreUnavailable("down")
        items = []
        for doc in documents:
            items.append(BulkItem("duplicate" if doc.doc_id in self.ids else "created"))
            self.ids.add(doc.doc_id)
        self.journal.append("bulk")
        return BulkOutcome(tuple(items))


class Feed:
    def __init__(self) -> None:
        self.routed = 0
        self.progress: list[dict[str, int]] = []

    def publish(self, routed: Sequence[object]) -> None:
        self.routed += len(routed)

    def publish_progress(self, progress: Mapping[str, int]) -> None:
        self.progress.append(dict(progress))

    def flush(self) -> None:
        pass


class Nothing:
    """Metrics, liveness and dead letters that only need to be callable
    (readiness is remembered: /readyz answers from it)."""

    readiness: list[bool]

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None: ...

    def set(self, name: str, value: float, **labels: str) -> None: ...

    def observe(self, name: str, value: float, **labels: str) -> None: ...

    def beat(self) -> None: ...

    def ready(self, ok: bool) -> None:
        self.readiness = [*getattr(self, "readiness", []), ok]

    def send(self, message: InboundMessage, error_type: str, error_message: str) -> None: ...

    def flush(self) -> None: ...


def _loop(
    source: Source,
    store: Store | FakeEventStore,
    feed: Feed,
    nothing: Nothing | None = None,
    chain: ChainKeeper | None = None,
) -> tuple[IngestLoop, StopSignal]:
    stop = StopSignal()
    nothing = nothing or Nothing()
    wait = OutageWait(source, nothing, stop)
    pipeline = IngestPipeline(
        store=store,
        dead_letters=nothing,
        metrics=nothing,
        index_for=lambda event: "events",
        clock=lambda: NOW,
        wait=wait,
        detection_feed=feed,
        chain=chain,
    )
    loop = IngestLoop(
        source=source,
        pipeline=pipeline,
        metrics=nothing,
        health=nothing,
        stop=stop,
        options=LoopOptions(poll_timeout_ms=1, batch_max_records=100),
        progress=feed,
        chain=chain,
        clock=lambda: NOW,
    )
    return loop, stop


def test_each_batch_is_committed_after_its_bulk_answer_and_counts_add_up() -> None:
    journal = Journal()
    source = Source([_batch(0, 0, 20, 1), _batch(1, 100, 30, 2)], journal)
    feed = Feed()
    loop, _ = _loop(source, Store(journal), feed)
    counts = loop.run(until_idle=0.0)
    loop.close()
    assert (counts.consumed, counts.stored, counts.batches) == (50, 50, 2)
    # The second batch may be written while the first is finished; commits
    # follow their own bulk answers, in order.
    assert journal.count("bulk") == 2 and journal.count("commit") == 2
    assert journal.index("bulk") < journal.index("commit")
    assert journal[-1] == "commit"
    assert source.commits == [{(TOPIC, 0): 20}, {(TOPIC, 1): 130}]
    assert feed.progress, "the detectors heard where the sources stand"


def test_the_next_batch_is_written_while_the_previous_one_is_finished() -> None:
    """Batch 1's finishing (its dead-letter flush) waits until batch 2's bulk
    has landed: it can only end if the worker writes batch 2 meanwhile."""
    journal = Journal()
    source = Source([_batch(0, 0, 20, 1), _batch(1, 100, 30, 2)], journal)
    written_both = threading.Event()

    class SlowFlush(Nothing):
        flushes = 0

        def flush(self) -> None:
            if self.flushes == 0:
                written_both.wait(5)
            self.flushes += 1

    class CountingStore(Store):
        def bulk_create(self, documents: Sequence[StoredDocument]) -> BulkOutcome:
            outcome = super().bulk_create(documents)
            if self.journal.count("bulk") == 2:
                written_both.set()
            return outcome

    loop, _ = _loop(source, CountingStore(journal), Feed(), SlowFlush())
    counts = loop.run(until_idle=0.0)
    loop.close()
    assert written_both.is_set()
    assert counts.stored == 50
    assert journal == ["bulk", "bulk", "commit", "commit"]
    assert source.commits == [{(TOPIC, 0): 20}, {(TOPIC, 1): 130}]


def test_a_batch_is_checked_for_duplicates_while_the_one_before_is_written() -> None:
    """Batch 1's bulk request waits until batch 2's duplicate check has been
    made: it can only land if the check runs beside it. Batch 2 resends an
    event of batch 1, which that check could not see yet: the event is still
    stored once and chained once, and the chain has no gap."""
    journal = Journal()
    first = _batch(0, 0, 20, 1)
    resent = InboundMessage(TOPIC, 1, 100, None, first[0].value)
    source = Source([first, [resent, *_batch(1, 101, 10, 2)]], journal)
    second_checked = threading.Event()

    class ChainedStore(FakeEventStore):
        lookups = 0
        overlapped = False

        def existing_ids(self, refs: Sequence[tuple[str, str]]) -> set[str]:
            found = super().existing_ids(refs)
            self.lookups += 1
            if self.lookups == 2:
                second_checked.set()
            return found

        def bulk_create(self, documents: Sequence[StoredDocument]) -> BulkOutcome:
            if not self.bulk_requests:
                self.overlapped = second_checked.wait(5)
            return super().bulk_create(documents)

    store = ChainedStore()
    loop, _ = _loop(source, store, Feed(), chain=ChainKeeper(store))
    counts = loop.run(until_idle=0.0)
    loop.close()
    assert store.overlapped, "batch 2 was checked while batch 1 was being written"
    assert store.lookups == 2, "each batch checked once, ahead of its write"
    assert (counts.stored, counts.duplicates) == (30, 1)
    links = sorted(
        (
            doc["integrity"]["chain"],
            doc["integrity"]["seq"],
            doc["integrity"]["prev_hash"],
            doc["integrity"]["hash"],
        )
        for doc in store.indices["events"].values()
    )
    for chain in {link[0] for link in links}:
        own = [link for link in links if link[0] == chain]
        assert [link[1] for link in own] == list(range(1, len(own) + 1)), chain
        for earlier, later in itertools.pairwise(own):
            assert later[2] == earlier[3], f"{chain}: a gap after seq {earlier[1]}"


def test_batches_are_written_ahead_again_after_one_had_to_be_retried() -> None:
    """Batch 1's first write leaves a document to retry, so batch 2 is
    written only when batch 1 is finished, on the consumer's thread. The
    batches after it are written ahead by the worker again: a backlog read
    after an overload or an outage is caught up with the two threads."""
    journal = Journal()
    batches = [_batch(0, 100 * n, 10, n) for n in range(1, 6)]
    source = Source(batches, journal)

    class OnceOverloaded(Store):
        def __init__(self, journal: Journal) -> None:
            super().__init__(journal)
            self.writers: list[str] = []

        def bulk_create(self, documents: Sequence[StoredDocument]) -> BulkOutcome:
            first = not self.writers
            self.writers.append(threading.current_thread().name)
            outcome = super().bulk_create(documents)
            if first:
                self.ids.discard(documents[0].doc_id)
                return BulkOutcome((BulkItem("retry", "429"), *outcome.items[1:]))
            return outcome

    store = OnceOverloaded(journal)
    loop, _ = _loop(source, store, Feed())
    counts = loop.run(until_idle=0.0)
    loop.close()
    assert (counts.stored, counts.batches) == (50, 5)
    assert source.commits == [{(TOPIC, 0): 100 * n + 10} for n in range(1, 6)]
    on_worker = [name.startswith("bulk") for name in store.writers]
    # batch 1, its retry, batch 2 (after it), then batches 3-5 ahead again
    assert on_worker[:3] == [True, False, False]
    assert on_worker[3:] == [True, True, True]


def test_a_revoke_waits_for_the_bulk_in_flight() -> None:
    journal = Journal()
    gate = threading.Event()
    source = Source([_batch(0, 0, 10, 3)], journal)
    source.revoke_on_poll = 2  # the poll after the batch went to the worker
    source.gate = gate
    loop, _ = _loop(source, Store(journal, gate), Feed())
    loop.run(until_idle=0.0)
    loop.close()
    assert journal.index("bulk") < journal.index("revoked")
    assert journal.index("revoke") < journal.index("bulk")


def test_a_stop_during_an_outage_commits_nothing() -> None:
    journal = Journal()
    store = Store(journal)
    store.unavailable = True
    source = Source([_batch(0, 0, 10, 4)], journal)
    loop, stop = _loop(source, store, Feed())
    original = source.poll_batch

    def poll_then_stop(timeout_ms: int, max_records: int) -> list[InboundMessage]:
        batch = original(timeout_ms, max_records)
        if batch:
            stop.set()  # SIGTERM while this batch cannot be stored
        return batch

    source.poll_batch = poll_then_stop  # type: ignore[method-assign]
    counts = loop.run()
    loop.close()
    assert source.commits == []
    assert counts.stored == 0


def test_not_ready_while_no_broker_answers_though_polls_return() -> None:
    """kafka-python's poll returns normally with the brokers gone: readiness
    follows the source's own probe (issue 11 item 14)."""
    journal = Journal()
    source = Source([_batch(0, 0, 5, 5)], journal)
    health = Nothing()
    loop, _ = _loop(source, Store(journal), Feed(), health)
    loop.run(until_idle=0.0)
    assert health.readiness[-1] is True
    source.broker_up = False
    source.batches.append(_batch(0, 5, 5, 6))
    loop.run(until_idle=0.0)
    loop.close()
    assert health.readiness[-1] is False
