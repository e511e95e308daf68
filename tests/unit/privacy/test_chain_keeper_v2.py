"""The chain keeper seals version-2 links with a committer, and flags the
new events of a restricted subject."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from audit.domain.integrity import ChainHead, verify_chain
from audit.services.chain_keeper import ChainKeeper
from audit.services.commitments import Committer
from audit.services.ports.ingest import StoredDocument
from audit.services.restricted_subjects import RestrictedSubjects
from audit.services.subject_keys import SubjectKeyring
from tests.unit.integrity.conftest import ORG, make_document
from tests.unit.privacy.fakes import MemoryKeyStore


class EmptyChains:
    def refresh(self) -> None: ...

    def existing_ids(self, refs: Sequence[tuple[str, str]]) -> set[str]:
        return set()

    def latest_heads(self, organization_ids: Sequence[str]) -> dict[str, ChainHead]:
        return {}


class Requests:
    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = documents

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.documents

    def create(self, request_id: str, document: Any) -> bool:
        raise AssertionError

    def get(self, request_id: str) -> dict[str, Any]:
        raise AssertionError

    def replace(self, request_id: str, document: Any) -> None:
        raise AssertionError


def test_sealed_as_version_2_and_restricted_subject_flagged() -> None:
    restriction = {
        "id": "dsr_r",
        "right": "restriction",
        "law": "gdpr",
        "subject": {"user_id": "usr_19c2"},
        "verification": {"method": "session", "verified_by": "desk"},
        "received_at": "2026-11-26T09:00:00+00:00",
        "received_by": "p",
        "status": "executed",
    }
    keeper = ChainKeeper(
        EmptyChains(),
        committer=Committer(SubjectKeyring(MemoryKeyStore(), bytes(32))),
        restrictions=RestrictedSubjects(Requests([restriction])),
    )
    documents = [(ORG, StoredDocument("idx", f"ev-{i:05d}", make_document(i))) for i in range(1, 5)]
    written, repeated = keeper.seal(documents)
    assert (written, repeated) == ([0, 1, 2, 3], [])
    sources = [doc.source for _, doc in documents]
    assert {s["integrity"]["v"] for s in sources} == {2}
    assert verify_chain(sources, [], {}) == []
    # make_document: odd events are usr_19c2's, even ones usr_other's
    flagged = [s["integrity"].get("privacy", {}).get("restricted") for s in sources]
    assert flagged == [["dsr_r"], None, ["dsr_r"], None]


def test_restriction_list_failure_keeps_the_last_list_and_does_not_raise() -> None:
    from audit.errors import StoreUnavailable

    class Flaky(Requests):
        fail = False

        def list(self, limit: int = 100) -> list[dict[str, Any]]:
            if self.fail:
                raise StoreUnavailable("down")
            return super().list(limit)

    restriction = {
        "id": "dsr_r",
        "right": "objection",
        "law": "gdpr",
        "subject": {"user_id": "usr_19c2"},
        "verification": {"method": "session", "verified_by": "desk"},
        "received_at": "2026-11-26T09:00:00+00:00",
        "received_by": "p",
        "status": "executed",
    }
    clock = [0.0]
    store = Flaky([restriction])
    subjects = RestrictedSubjects(store, ttl=60, clock=lambda: clock[0])
    assert subjects.requests_for(make_document(1)) == ["dsr_r"]
    store.fail = True
    clock[0] = 120.0
    assert subjects.requests_for(make_document(1)) == ["dsr_r"]


def test_version_1_links_come_with_their_stored_json_and_restriction_flags() -> None:
    """``seal_encoded``: each written document's bytes are its stored form
    (integrity and the restriction flag included), so the bulk body is not
    serialized twice."""
    restriction = {
        "id": "dsr_r",
        "right": "restriction",
        "law": "gdpr",
        "subject": {"user_id": "usr_19c2"},
        "verification": {"method": "session", "verified_by": "desk"},
        "received_at": "2026-11-26T09:00:00+00:00",
        "received_by": "p",
        "status": "executed",
    }
    keeper = ChainKeeper(EmptyChains(), restrictions=RestrictedSubjects(Requests([restriction])))
    documents = [(ORG, StoredDocument("idx", f"ev-{i:05d}", make_document(i))) for i in range(1, 5)]
    written, repeated, bodies = keeper.seal_encoded([*documents, documents[0]])
    assert (written, repeated) == ([0, 1, 2, 3], [4])
    sources = [doc.source for _, doc in documents]
    assert {i: orjson.loads(body) for i, body in bodies.items()} == dict(enumerate(sources))
    assert verify_chain([orjson.loads(bodies[i]) for i in written], [], {}) == []
    flagged = [s["integrity"].get("privacy", {}).get("restricted") for s in sources]
    assert flagged == [["dsr_r"], None, ["dsr_r"], None]


def test_no_restriction_in_force_means_no_per_document_test() -> None:
    subjects = RestrictedSubjects(Requests([]))
    assert subjects.matcher() is None
    assert subjects.requests_for(make_document(1)) == []
