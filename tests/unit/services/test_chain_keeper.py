"""The chain keeper: one unbroken chain per organization, across restarts,
outages and redeliveries, recovered from what is stored."""

from __future__ import annotations

import pytest

from audit.domain.integrity.chain import ChainHead
from audit.errors import StoreUnavailable
from audit.services.chain_keeper import ChainKeeper
from audit.services.ports.ingest import StoredDocument
from audit.services.verify import VerifyService
from tests.fakes.ingest import FakeEventStore, FakeMetrics
from tests.fakes.integrity import FakeChainStore, FakeDigestStore

INDEX = "audit-events-standard-2026.11.26"


def doc(event_id: str, org: str = "org_a") -> tuple[str, StoredDocument]:
    source = {
        "@timestamp": "2026-11-26T09:00:00Z",
        "event": {"id": event_id, "action": "user.login", "outcome": "success"},
        "organization": {"id": org},
    }
    return org, StoredDocument(INDEX, event_id, source)


def store_sealed(
    store: FakeEventStore, keeper: ChainKeeper, docs: list[tuple[str, StoredDocument]]
):
    written, repeated = keeper.seal(docs)
    store.bulk_create([docs[i][1] for i in written])
    return written, repeated


def integrity(store: FakeEventStore, event_id: str) -> dict:
    return store.indices[INDEX][event_id]["integrity"]


def test_each_organization_gets_its_own_chain_from_genesis() -> None:
    store = FakeEventStore()
    keeper = ChainKeeper(store)
    written, repeated = store_sealed(store, keeper, [doc("a1"), doc("b1", "org_b"), doc("a2")])
    assert (written, repeated) == ([0, 1, 2], [])
    assert integrity(store, "a1")["seq"] == 1
    assert integrity(store, "b1")["seq"] == 1
    assert integrity(store, "a2")["seq"] == 2
    assert integrity(store, "a2")["prev_hash"] == integrity(store, "a1")["hash"]
    assert integrity(store, "a1")["prev_hash"] == ChainHead.genesis("org_a").hash


def test_a_new_keeper_refreshes_then_continues_the_stored_chain() -> None:
    store = FakeEventStore()
    store_sealed(store, ChainKeeper(store), [doc("a1"), doc("a2")])
    refreshes = store.refreshes

    # After a restart the written documents may not be searchable yet: the
    # keeper must refresh before reading the heads, or it would fork the chain.
    store_sealed(store, ChainKeeper(store), [doc("a3")])
    assert store.refreshes == refreshes + 1
    assert integrity(store, "a3")["seq"] == 3
    assert integrity(store, "a3")["prev_hash"] == integrity(store, "a2")["hash"]


def test_a_stored_event_is_not_chained_again_and_a_repeat_in_the_batch_neither() -> None:
    store = FakeEventStore()
    keeper = ChainKeeper(store)
    store_sealed(store, keeper, [doc("a1")])
    before = dict(integrity(store, "a1"))

    written, repeated = store_sealed(store, ChainKeeper(store), [doc("a1"), doc("a2"), doc("a2")])
    assert (written, repeated) == ([1], [0, 2])
    assert integrity(store, "a1") == before
    assert integrity(store, "a2")["seq"] == 2


def test_an_outage_while_sealing_remembers_nothing_and_a_repeat_leaves_no_gap() -> None:
    store = FakeEventStore()
    keeper = ChainKeeper(store)
    store_sealed(store, keeper, [doc("a1")])
    store.outages.down(1)
    with pytest.raises(StoreUnavailable):
        keeper.seal([doc("a2")])
    store_sealed(store, keeper, [doc("a2")])
    assert integrity(store, "a2")["seq"] == 2
    assert integrity(store, "a2")["prev_hash"] == integrity(store, "a1")["hash"]


def test_after_reset_the_heads_are_read_again_from_the_store() -> None:
    store = FakeEventStore()
    mine = ChainKeeper(store)
    store_sealed(store, mine, [doc("a1")])
    # The partition moved away and back: another consumer extended the chain meanwhile.
    store_sealed(store, ChainKeeper(store), [doc("a2")])
    mine.reset()
    store_sealed(store, mine, [doc("a3")])
    assert [integrity(store, e)["seq"] for e in ("a1", "a2", "a3")] == [1, 2, 3]


def test_the_sealed_chain_verifies_and_a_tampered_event_is_found() -> None:
    store = FakeEventStore()
    keeper = ChainKeeper(store)
    store_sealed(store, keeper, [doc(f"a{i}") for i in range(1, 6)] + [doc("b1", "org_b")])
    store.refresh()
    verify = VerifyService(FakeChainStore(store), FakeDigestStore(), {}, FakeMetrics())

    report = verify.verify("org_a")
    assert report.ok, report.findings
    assert (report.first_seq, report.last_seq, report.events) == (1, 5, 5)

    store.indices[INDEX]["a3"]["event"]["outcome"] = "failure"  # edited in place
    store.refresh()
    findings = verify.verify("org_a").findings
    assert [f.seq for f in findings] == [3]
