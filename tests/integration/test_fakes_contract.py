"""The fakes in ``tests/fakes`` answer as the real adapters do on the real node.

Each test runs the same assertions against the Elasticsearch adapter (on the
shared test node, in indices unique to the test) and against its fake, so
that the service unit tests built on the fakes stay honest.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from audit.adapters.bundled_data import load_retention_policy
from audit.adapters.elasticsearch.chain_store import ElasticsearchChainStore
from audit.adapters.elasticsearch.event_store import ElasticsearchEventStore
from audit.adapters.elasticsearch.hold_store import ElasticsearchHoldStore
from audit.adapters.elasticsearch.incident_store import ElasticsearchIncidentStore
from audit.adapters.elasticsearch.job_store import ElasticsearchJobStore
from audit.adapters.elasticsearch.lease_store import ElasticsearchLease
from audit.adapters.elasticsearch.retention_executor import (
    ElasticsearchRetentionCluster,
    IndexNames,
)
from audit.adapters.kafka.dead_letters import KafkaDeadLetterSink
from audit.adapters.kafka.delivery import UndeliveredRecords
from audit.adapters.kafka.detection_feed import KafkaDetectionFeed
from audit.adapters.kafka.topics import ensure_topics
from audit.domain.detection.routing import RoutedEvent
from audit.domain.incidents import open_incident
from audit.domain.integrity.chain import ChainHead, extend
from audit.domain.retention import LegalHold
from audit.errors import ConflictError, InvalidTransition, NotFound
from audit.services.ports.incidents import Version
from audit.services.ports.ingest import InboundMessage, StoredDocument
from audit.services.ports.integrity import ChainQuery
from audit.services.ports.jobs import StoredFileCorrupt
from audit.services.ports.retention import RetentionStepFailed
from tests.fakes.incidents import FakeIncidentStore, FakeLease
from tests.fakes.ingest import FakeDeadLetterSink, FakeDetectionFeed, FakeEventStore
from tests.fakes.integrity import FakeChainStore
from tests.fakes.jobs import FakeJobStore
from tests.fakes.retention import FakeHoldStore, FakeRetentionCluster
from tests.unit.incidents.helpers import T0, detection

from .conftest import Isolated

pytestmark = pytest.mark.integration

DAY = "2026.11.26"


@dataclass
class EventStoreUnderTest:
    store: Any
    prefix: str
    block_writes: Callable[[str], None]


@pytest.fixture(params=["real", "fake"])
def event_store(request: pytest.FixtureRequest) -> Iterator[EventStoreUnderTest]:
    if request.param == "fake":
        fake = FakeEventStore()
        yield EventStoreUnderTest(fake, "audit-events", fake.write_blocked.add)
        return
    isolated: Isolated = request.getfixturevalue("isolated")
    prefix = isolated.settings.index_prefix
    real = ElasticsearchEventStore(isolated.es, prefix)
    real.ensure_templates()

    def block(index: str) -> None:
        isolated.es.indices.create(index=index)
        isolated.es.indices.add_block(index=index, block="write")

    try:
        yield EventStoreUnderTest(real, prefix, block)
    finally:
        for name in isolated.es.indices.get(index=f"{prefix}-*", allow_no_indices=True):
            isolated.es.indices.put_settings(index=name, settings={"index.blocks.write": False})
        isolated.es.indices.delete_index_template(name=prefix)


def event(event_id: str, org: str = "org_a", **extra: Any) -> dict[str, Any]:
    return {
        "@timestamp": "2026-11-26T09:00:00Z",
        "event": {"id": event_id, "action": "user.login", "outcome": "success"},
        "organization": {"id": org},
        **extra,
    }


def statuses(outcome: Any) -> list[str]:
    return [item.status for item in outcome.items]


def error_types(outcome: Any) -> list[str]:
    return [item.reason.split(":")[0] for item in outcome.items]


def test_create_answers_duplicate_for_an_existing_id_in_the_same_index_only(
    event_store: EventStoreUnderTest,
) -> None:
    store, index = event_store.store, f"{event_store.prefix}-standard-{DAY}"
    other = f"{event_store.prefix}-extended-{DAY}"
    first = store.bulk_create([StoredDocument(index, "e1", event("e1"))])
    again = store.bulk_create(
        [
            StoredDocument(index, "e1", event("e1")),
            StoredDocument(index, "e2", event("e2")),
            StoredDocument(index, "e2", event("e2")),
            StoredDocument(other, "e1", event("e1")),
        ]
    )
    assert statuses(first) == ["created"]
    assert statuses(again) == ["duplicate", "created", "duplicate", "created"]
    assert store.existing_ids([(index, "e1"), (index, "e3"), (other, "e1")]) == {"e1"}
    assert store.bulk_create([]).items == ()


def test_refused_documents_are_rejected_with_the_nodes_reason(
    event_store: EventStoreUnderTest,
) -> None:
    store, prefix = event_store.store, event_store.prefix
    blocked = f"{prefix}-standard-2026.11.01"
    event_store.block_writes(blocked)
    outcome = store.bulk_create(
        [
            StoredDocument(f"{prefix}-standard-{DAY}", "ok", event("ok")),
            StoredDocument(
                f"{prefix}-standard-{DAY}", "bad-ip", event("bad-ip", source={"ip": "nope"})
            ),
            StoredDocument(
                f"{prefix}-standard-{DAY}", "bad-seq", event("bad-seq", integrity={"seq": "x"})
            ),
            StoredDocument(f"{prefix}-standard-{DAY}", "obj", event("obj", user="flat")),
            StoredDocument(f"{prefix}-Standard-{DAY}", "upper", event("upper")),
            StoredDocument(blocked, "late", event("late")),
            StoredDocument(
                f"{prefix}-standard-{DAY}", "unmapped", event("unmapped", extra={"x": [1, "a"]})
            ),
        ]
    )
    assert statuses(outcome) == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
    ]
    assert error_types(outcome)[1:6] == [
        "document_parsing_exception",
        "document_parsing_exception",
        "document_parsing_exception",
        "invalid_index_name_exception",
        "cluster_block_exception",
    ]


def test_chain_heads_are_read_from_what_a_refresh_made_searchable(
    event_store: EventStoreUnderTest,
) -> None:
    store, index = event_store.store, f"{event_store.prefix}-standard-{DAY}"
    head = ChainHead.genesis("org_a")
    documents = []
    for n in range(3):
        source = event(f"c{n}")
        fields, head = extend(head, source)
        source["integrity"] = fields.as_dict()
        documents.append(StoredDocument(index, f"c{n}", source))
    store.bulk_create(documents)
    store.refresh()
    assert store.latest_heads(["org_a", "org_b"]) == {"org_a": head}
    assert store.latest_heads([]) == {}


@pytest.fixture(params=["real", "fake"])
def incident_store(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeIncidentStore()
    isolated: Isolated = request.getfixturevalue("isolated")
    real = ElasticsearchIncidentStore(
        isolated.es, index=f"{isolated.settings.index_prefix}-incidents"
    )
    real.ensure_index()
    return real


def test_incident_create_replace_and_conflicts(incident_store: Any) -> None:
    incident = open_incident(detection("d1"), T0)
    assert incident_store.create(incident) is True
    assert incident_store.create(incident) is False

    stored = incident_store.get(incident.id)
    assert stored.value == incident
    changed = incident.model_copy(update={"title": "renamed"})
    incident_store.replace(changed, stored.version)
    assert incident_store.get(incident.id).value.title == "renamed"

    with pytest.raises(ConflictError):
        incident_store.replace(incident, stored.version)  # stale: read before the write
    with pytest.raises(ConflictError):
        incident_store.replace(open_incident(detection("d9"), T0), Version(0, 1))  # never created
    with pytest.raises(NotFound):
        incident_store.get("missing")


def test_incident_find_filters_and_orders(incident_store: Any) -> None:
    later = open_incident(detection("d2", orgs=("org_b",)), T0 + timedelta(hours=1))
    first = open_incident(detection("d1"), T0)
    incident_store.create(later)
    incident_store.create(first)
    assert [i.id for i in incident_store.find()] == [first.id, later.id]
    assert [i.id for i in incident_store.find(organization_ids=["org_b"])] == [later.id]
    assert [i.id for i in incident_store.find(detection_id="d1")] == [first.id]
    assert [i.id for i in incident_store.find(rule_id="rule.d2")] == [later.id]
    assert incident_store.find(statuses=[]) == []
    assert incident_store.find(statuses=["closed"]) == []


@pytest.fixture(params=["real", "fake"])
def hold_store(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeHoldStore()
    isolated: Isolated = request.getfixturevalue("isolated")
    real = ElasticsearchHoldStore(isolated.es, index=f"{isolated.settings.index_prefix}-holds")
    real.ensure_index()
    return real


def test_a_hold_is_created_once_and_released_once(hold_store: Any) -> None:
    hold = LegalHold.model_validate(
        {
            "id": "case-1",
            "scope": {"organization_ids": ["org_a"]},
            "created_by": "legal",
            "reason": "r",
            "reference": "C-1",
            "created_at": T0.isoformat(),
        }
    )
    assert hold_store.create(hold) is True
    assert hold_store.create(hold) is False
    released = hold_store.release("case-1", "legal", T0 + timedelta(days=1), "closed")
    assert hold_store.get("case-1") == released
    with pytest.raises(InvalidTransition):
        hold_store.release("case-1", "legal", T0 + timedelta(days=2), "again")
    assert [e["action"] for e in hold_store.log("case-1")] == ["created", "released"]
    with pytest.raises(NotFound):
        hold_store.get("nope")


@pytest.fixture(params=["real", "fake"])
def lease(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeLease(timedelta(minutes=5))
    isolated: Isolated = request.getfixturevalue("isolated")
    real = ElasticsearchLease(
        isolated.es, f"{isolated.settings.index_prefix}-locks", timedelta(minutes=5)
    )
    real.ensure_index()
    return real


def test_a_slot_is_claimed_by_one_holder_only(lease: Any) -> None:
    slot = T0
    assert lease.acquire("job", "a", slot, T0) is True
    assert lease.acquire("job", "b", slot, T0) is False  # same slot
    later = slot + timedelta(minutes=1)
    assert lease.acquire("job", "b", later, T0 + timedelta(minutes=1)) is False  # a's lease
    assert lease.acquire("job", "a", later, T0 + timedelta(minutes=1)) is True  # its own
    lease.release("job", "a", T0 + timedelta(minutes=2))
    nxt = slot + timedelta(minutes=2)
    assert lease.acquire("job", "b", nxt, T0 + timedelta(minutes=2)) is True


@dataclass
class ClusterUnderTest:
    cluster: Any
    add_index: Callable[[str, dict[str, dict[str, Any]]], None]


@pytest.fixture(params=["real", "fake"])
def retention_cluster(request: pytest.FixtureRequest) -> Iterator[ClusterUnderTest]:
    policy = load_retention_policy()
    if request.param == "fake":
        fake = FakeRetentionCluster(policy)
        yield ClusterUnderTest(fake, fake.add_index)
        return
    isolated: Isolated = request.getfixturevalue("isolated")
    prefix = isolated.settings.index_prefix
    names = IndexNames(events_prefix=prefix, holds_prefix=f"{prefix}-holds")
    real = ElasticsearchRetentionCluster(isolated.es, names, policy)

    def add(name: str, docs: dict[str, dict[str, Any]]) -> None:
        index = names.to_real(name)
        isolated.es.indices.create(index=index)
        for doc_id, source in docs.items():
            isolated.es.index(index=index, id=doc_id, document=source)
        isolated.es.indices.refresh(index=index)

    try:
        yield ClusterUnderTest(real, add)
    finally:
        for name in isolated.es.indices.get(index=f"{prefix}-*", allow_no_indices=True):
            isolated.es.indices.put_settings(index=name, settings={"index.blocks.read_only": False})


def test_blocks_refuse_merges_and_deletions_as_the_node_does(
    retention_cluster: ClusterUnderTest,
) -> None:
    cluster = retention_cluster.cluster
    name = f"audit-events-standard-{DAY}"
    retention_cluster.add_index(
        name, {"a1": event("a1"), "a2": event("a2"), "b1": event("b1", org="org_b")}
    )
    org_a = {"bool": {"filter": [{"term": {"organization.id": "org_a"}}]}}
    assert cluster.count(name, org_a) == 2

    cluster.set_block(name, "read_only", present=True)
    (state,) = [s for s in cluster.observe() if s.name == name]
    assert state.read_only and not state.write_block
    with pytest.raises(RetentionStepFailed):
        cluster.force_merge(name, 1)
    with pytest.raises(RetentionStepFailed):
        cluster.delete_matching(name, org_a)
    assert cluster.count(name, org_a) == 2

    cluster.set_block(name, "read_only", present=False)
    cluster.set_block(name, "write", present=True)
    cluster.force_merge(name, 1)  # allowed under a write block
    with pytest.raises(RetentionStepFailed):
        cluster.delete_matching(name, org_a)
    cluster.set_block(name, "write", present=False)
    assert cluster.delete_matching(name, org_a) == 2
    assert cluster.count(name, org_a) == 0
    assert cluster.count(name, {"match_all": {}}) == 1

    with pytest.raises(RetentionStepFailed):
        cluster.set_block("audit-events-standard-2001.01.01", "write", present=True)


@pytest.fixture(params=["real", "fake"])
def refusing_dead_letters(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A dead-letter sink whose next flush finds a send the broker refused."""
    if request.param == "fake":
        fake = FakeDeadLetterSink()
        fake.broker_down()
        yield fake
        return
    isolated: Isolated = request.getfixturevalue("isolated")
    settings = isolated.settings
    # A topic that refuses records over 2,000 bytes: the broker answers
    # MESSAGE_TOO_LARGE, a failure kafka-python's flush() does not raise itself.
    ensure_topics(settings, {settings.topic_dlq: {"max.message.bytes": "2000"}}, partitions=1)
    sink = KafkaDeadLetterSink(settings)
    try:
        yield sink
    finally:
        sink.close()


def test_a_dead_letter_the_broker_refused_fails_the_flush(refusing_dead_letters: Any) -> None:
    message = InboundMessage("src", 0, 7, b"k", b"x" * 5000)
    refusing_dead_letters.send(message, "oversize", "the message is 5000 bytes")
    with pytest.raises(UndeliveredRecords):
        refusing_dead_letters.flush()


@pytest.fixture(params=["real", "fake"])
def refusing_detection_feed(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A detection feed whose next flush finds a message the broker refused."""
    if request.param == "fake":
        fake = FakeDetectionFeed()
        fake.broker_down()
        yield fake
        return
    isolated: Isolated = request.getfixturevalue("isolated")
    settings = isolated.settings.model_copy(
        update={"topic_routed": f"{isolated.settings.topic_auth}.routed"}
    )
    # Refuses messages over 2,000 bytes: librdkafka reports MSG_SIZE_TOO_LARGE
    # to the delivery callback, not to produce() or flush().
    ensure_topics(settings, {settings.topic_routed: {"max.message.bytes": "2000"}}, partitions=2)
    feed = KafkaDetectionFeed(settings)
    try:
        yield feed
    finally:
        feed.close()


def test_a_routed_batch_the_broker_refused_fails_the_flush(refusing_detection_feed: Any) -> None:
    routed = [
        RoutedEvent(
            "auth.brute_force",
            "auth.brute_force|usr_1",
            (("user.id", "usr_1"),),
            1_764_000_000_000_000 + i,
            f"evt-{i:04d}",
            "org_a",
            0,
            {"user.id": "usr_1", "source.ip": "198.51.100.7"},
            1_764_000_000_000_000 + i,
        )
        for i in range(50)
    ]
    refusing_detection_feed.publish(routed)
    with pytest.raises(UndeliveredRecords):
        refusing_detection_feed.flush()


@pytest.fixture(params=["real", "fake"])
def chain_store(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any, str]]:
    """(event store, chain store reading it, index prefix)."""
    if request.param == "fake":
        events = FakeEventStore()
        yield events, FakeChainStore(events), "audit-events"
        return
    isolated: Isolated = request.getfixturevalue("isolated")
    prefix = isolated.settings.index_prefix
    real_events = ElasticsearchEventStore(isolated.es, prefix)
    real_events.ensure_templates()
    try:
        yield real_events, ElasticsearchChainStore(isolated.es, prefix, page_size=2), prefix
    finally:
        isolated.es.indices.delete_index_template(name=prefix)


def test_the_chain_is_read_in_seq_order_from_a_point_in_time(
    chain_store: tuple[Any, Any, str],
) -> None:
    events, chains, prefix = chain_store
    index = f"{prefix}-standard-{DAY}"
    heads = {"org_a": ChainHead.genesis("org_a"), "org_b": ChainHead.genesis("org_b")}
    documents = []
    for event_id, org in (("a1", "org_a"), ("b1", "org_b"), ("a2", "org_a"), ("a3", "org_a")):
        source = event(event_id, org=org)
        fields, heads[org] = extend(heads[org], source)
        source["integrity"] = fields.as_dict()
        documents.append(StoredDocument(index, event_id, source))
    documents.insert(0, StoredDocument(index, "bare", event("bare")))  # no integrity: malformed
    events.bulk_create(documents)
    events.refresh()

    with chains.snapshot() as snapshot:
        events.bulk_create([StoredDocument(index, "late", event("late"))])
        events.refresh()
        everything = list(snapshot.documents(ChainQuery("org_a")))
        assert [d["event"]["id"] for d in everything] == ["a1", "a2", "a3", "bare"]
        assert snapshot.count(ChainQuery("org_a")) == 4
        assert snapshot.seq_bounds(ChainQuery("org_a")) == (1, 3)
        tail = snapshot.documents(ChainQuery("org_a", from_seq=2), fields=["integrity.seq"])
        assert list(tail) == [{"integrity": {"seq": 2}}, {"integrity": {"seq": 3}}]
        assert snapshot.seq_bounds(ChainQuery("org_c")) is None
    assert chains.heads() == {"org_a": 3, "org_b": 1}


@pytest.fixture(params=["real", "fake"])
def job_store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "fake":
        yield FakeJobStore()
        return
    isolated: Isolated = request.getfixturevalue("isolated")
    prefix = isolated.settings.index_prefix
    # Small chunks: a file of a few kilobytes spans several documents.
    yield ElasticsearchJobStore(
        lambda: isolated.es, f"{prefix}-jobs", f"{prefix}-job-files", chunk_bytes=1024
    )
    isolated.es.indices.delete(index=f"{prefix}-jobs,{prefix}-job-files", ignore_unavailable=True)


def _job_record(job_id: str, kind: str, minute: int) -> dict[str, Any]:
    return {
        "id": job_id,
        "kind": kind,
        "owner": "ann",
        "organization_id": "org_a",
        "created_at": f"2026-12-01T10:{minute:02d}:00+00:00",
        "state": "running",
        "result": {"nested": {"any": ["shape"]}},
        "stored": {},
    }


def test_job_records_read_by_id_at_once_and_listed_newest_first(job_store: Any) -> None:
    assert job_store.get("nothing") is None
    assert job_store.records(None, 10) == []  # nothing saved yet: no index either
    job_store.save(_job_record("export-1", "export", 1))
    assert job_store.get("export-1") == _job_record("export-1", "export", 1)  # no refresh needed
    job_store.save(_job_record("verify-2", "verify", 2))
    job_store.save(_job_record("export-3", "export", 3))
    finished = dict(_job_record("export-1", "export", 1), state="succeeded")
    job_store.save(finished)  # replaced, not added
    deadline = time.monotonic() + 5
    while len(job_store.records(None, 10)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # searches see writes after a refresh
    assert [r["id"] for r in job_store.records(None, 10)] == ["export-3", "verify-2", "export-1"]
    assert [r["id"] for r in job_store.records("export", 10)] == ["export-3", "export-1"]
    assert [r["id"] for r in job_store.records(None, 1)] == ["export-3"]
    assert job_store.get("export-1")["state"] == "succeeded"


def test_job_files_read_back_in_order_and_are_forgotten_with_the_job(
    job_store: Any, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 20  # 5,120 bytes: several chunks
    (tmp_path / "events.ndjson").write_bytes(data)
    (tmp_path / "empty").write_bytes(b"")
    job_store.save(_job_record("export-1", "export", 1))
    stored = job_store.put_file("export-1", "bundle/events.ndjson", tmp_path / "events.ndjson")
    empty = job_store.put_file("export-1", "bundle/empty", tmp_path / "empty")
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert b"".join(job_store.read_file("export-1", stored)) == data
    assert b"".join(job_store.read_file("export-1", empty)) == b""
    with pytest.raises(StoredFileCorrupt):  # not what was stored
        b"".join(job_store.read_file("export-1", replace(stored, sha256="0" * 64)))
    time.sleep(1.2)  # the chunks searchable, as old jobs' are when forgotten
    job_store.delete(["export-1"])
    assert job_store.get("export-1") is None
    with pytest.raises(StoredFileCorrupt):
        b"".join(job_store.read_file("export-1", stored))
