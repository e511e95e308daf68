"""Version-2 links: personal values committed, not hashed in clear."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest

from audit.domain.integrity import ChainHead, extend, verify_chain
from audit.domain.integrity.chain import extend_v2, link_of
from audit.domain.integrity.keys import generate_signing_key
from audit.domain.privacy.fields import remove_value, set_value, without_personal
from audit.domain.privacy.records import events_digest, sign_record
from audit.services.commitments import Committer
from audit.services.personal_values import PersonalValueChecker
from audit.services.subject_keys import KeyUnwrapError, SubjectKeyring
from tests.unit.integrity.conftest import ORG, make_document
from tests.unit.privacy.fakes import MemoryKeyStore, MemoryLedger

KEK = bytes(range(32))


def mixed_chain(
    count: int,
    keyring: SubjectKeyring,
    v1: set[int] = frozenset(),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    """A chain whose links are v2 except the seqs in ``v1``."""
    committer = Committer(keyring)
    head = ChainHead.genesis(ORG)
    documents = []
    for i in range(1, count + 1):
        document = make_document(i)
        if i in v1:
            fields, head = extend(head, document)
        else:
            [(commitments, keys)] = committer.commit_batch([(ORG, document)])
            fields, head = extend_v2(head, document, commitments, keys)
        document["integrity"] = fields.as_dict()
        documents.append(document)
    return documents


def check(
    documents: list[dict[str, Any]], keyring: SubjectKeyring, ledger: MemoryLedger, keys: Any
) -> tuple[list[tuple[str, int | None]], list[tuple[str, str]]]:
    """As ``audit verify`` does: the hash of each link, then the values of
    the links whose hash holds."""
    findings = [(f.kind.value, f.seq) for f in verify_chain(documents, [], {})]
    broken = {seq for _, seq in findings}
    checker = PersonalValueChecker(keyring, ledger, keys)
    items = [(d, link_of(d)) for d in documents]
    more, erased = checker.check(
        [(d, link) for d, link in items if link is not None and link.seq not in broken]
    )
    findings += [(f.kind.value, f.seq) for f in more]
    return findings, [(e.event_id, e.request_id) for e in erased]


@pytest.fixture
def keyring() -> SubjectKeyring:
    return SubjectKeyring(MemoryKeyStore(), KEK)


def test_v1_and_v2_links_verify_side_by_side(keyring: SubjectKeyring) -> None:
    documents = mixed_chain(8, keyring, v1={1, 2, 5})
    assert [d["integrity"].get("v", 1) for d in documents] == [1, 1, 2, 2, 1, 2, 2, 2]
    assert check(documents, keyring, MemoryLedger(), {}) == ([], [])
    # A v1 link still covers personal values in clear; a v2 link through the commitment.
    for seq in (2, 4):
        tampered = copy.deepcopy(documents)
        tampered[seq - 1]["user"]["name"] = "mallory@evil.example"
        kinds = check(tampered, keyring, MemoryLedger(), {})[0]
        assert kinds == [("modified" if seq == 2 else "value_modified", seq)]


def test_commitments_do_not_carry_values_and_differ_per_event(keyring: SubjectKeyring) -> None:
    documents = mixed_chain(3, keyring)
    integrity = [d["integrity"] for d in documents]
    assert "198.51.100.23" not in str(integrity) and "dana@acme.example" not in str(integrity)
    # The same IP in two events gives two commitments: stored commitments link nothing.
    assert integrity[0]["commitments"]["source.ip"] != integrity[1]["commitments"]["source.ip"]
    assert set(integrity[0]["commitments"]) >= {"user.id", "source.ip#truncated"}
    assert "source.geo.country_iso_code" not in integrity[0]["commitments"]


def test_non_personal_change_and_forged_commitment_are_modified(keyring: SubjectKeyring) -> None:
    documents = mixed_chain(4, keyring)
    documents[1]["event"]["outcome"] = (
        "success" if documents[1]["event"]["outcome"] != "success" else "failure"
    )
    documents[2]["integrity"]["commitments"]["user.id"] = "0" * 64
    assert check(documents, keyring, MemoryLedger(), {})[0] == [("modified", 2), ("modified", 3)]


def test_value_removed_without_record_is_tampering(keyring: SubjectKeyring) -> None:
    documents = mixed_chain(3, keyring)
    assert remove_value(documents[1], "source.ip")
    assert check(documents, keyring, MemoryLedger(), {})[0] == [("value_removed", 2)]


def test_value_added_after_sealing_is_found(keyring: SubjectKeyring) -> None:
    documents = mixed_chain(3, keyring)
    set_value(documents[0], "user.email", "dana@acme.example")
    assert check(documents, keyring, MemoryLedger(), {})[0] == [("value_modified", 1)]


def test_erasure_under_a_signed_record_is_clean_and_named(keyring: SubjectKeyring) -> None:
    documents = mixed_chain(4, keyring)
    signing = generate_signing_key()
    ledger = MemoryLedger()
    erased_id = documents[2]["event"]["id"]
    fields = ["user.id", "user.name", "source.ip", "source.geo.location", "user_agent.original"]
    for path in fields:
        remove_value(documents[2], path)
    entry = {"event_id": erased_id, "organization_id": ORG, "fields": fields[1:]}
    ledger.record_events("dsr_1", [entry])
    ledger.put_record(
        "dsr_1",
        sign_record(
            {"request_id": "dsr_1", "events": 1, "events_sha256": events_digest([erased_id])},
            signing,
        ),
    )
    keys = {signing.key_id: signing.public_key}
    # user.id is not among the fields the ledger says were erased: tampering.
    assert check(documents, keyring, ledger, keys)[0] == [("value_removed", 3)]
    ledger.entries[erased_id]["fields"] = fields
    assert check(documents, keyring, ledger, keys) == ([], [(erased_id, "dsr_1")])
    # An unsigned (forged) record does not excuse the removal.
    ledger.records["dsr_1"]["events"] = 2
    findings = check(documents, keyring, ledger, keys)[0]
    assert ("value_removed", 3) in findings


def test_truncated_ip_matches_its_second_commitment(keyring: SubjectKeyring) -> None:
    documents = mixed_chain(2, keyring)
    documents[0]["source"]["ip"] = "198.51.100.0"
    documents[1]["source"]["ip"] = "198.51.101.0"
    assert check(documents, keyring, MemoryLedger(), {})[0] == [("value_modified", 2)]


def test_destroyed_key_with_value_present_is_reported(keyring: SubjectKeyring) -> None:
    documents = mixed_chain(2, keyring)
    keyring.destroy([documents[0]["integrity"]["keys"]["actor"]])
    kinds = {k for k, _ in check(documents, keyring, MemoryLedger(), {})[0]}
    assert kinds == {"key_missing"}


def test_keys_are_wrapped_and_bound_to_their_id() -> None:
    store = MemoryKeyStore()
    ring = SubjectKeyring(store, KEK)
    key_id = ring.key_id(ORG, "user.id:usr_1")
    key = ring.get_or_create([key_id])[key_id]
    assert len(key) == 32 and key not in store.keys[key_id]
    other = ring.key_id(ORG, "user.id:usr_2")
    store.keys[other] = store.keys[key_id]  # copied under another id: does not unwrap
    with pytest.raises(KeyUnwrapError):
        SubjectKeyring(store, KEK).get([other])
    with pytest.raises(KeyUnwrapError):
        SubjectKeyring(store, os.urandom(32)).get([key_id])


def test_stripped_form_of_erased_and_original_agree() -> None:
    document = make_document(1)
    erased = copy.deepcopy(document)
    for path in ("user.id", "user.name", "source.ip", "source.geo.location", "user_agent.original"):
        remove_value(erased, path)
    assert without_personal(document) == without_personal(erased) == erased
    assert erased["source"] == {"geo": {"country_iso_code": "FR"}, "as": {"number": 64501}}


def test_batch_commitments_equal_the_per_field_definition() -> None:
    from audit.domain.privacy.commitments import (
        TRUNCATED_SUFFIX,
        commit,
        commit_values,
        truncate_ip,
    )
    from audit.domain.privacy.fields import PERSONAL_FIELDS, personal_values

    document = make_document(3)
    document["source"]["ip"] = "2001:db8:1:2::7"
    document["user"]["target"] = {"id": "usr_t", "name": "Tee"}
    keys: dict[Any, bytes] = {"actor": b"a" * 32, "target": b"t" * 32}
    values = personal_values(document)
    expected = {p: commit(keys[PERSONAL_FIELDS[p]], "ev-3", p, v) for p, v in values.items()}
    path = "source.ip" + TRUNCATED_SUFFIX
    expected[path] = commit(keys["actor"], "ev-3", path, "2001:db8:1::")
    assert commit_values(values, "ev-3", keys) == expected
    assert truncate_ip("198.51.100.23") == "198.51.100.0"
    assert truncate_ip("not-an-ip") is None and truncate_ip("1.2.3.²") is None
