from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from audit.domain.integrity import (
    GENESIS_HASH,
    ChainHead,
    Digest,
    SigningKey,
    canonical_bytes,
    event_hash,
    extend,
    generate_signing_key,
    head_of,
    verify_chain,
)
from audit.domain.integrity.canonical import hashed_canonical, with_integrity
from audit.domain.integrity.chain import extend_canonical_batch
from tests.unit.integrity.conftest import ORG, build_chain, build_digests, tampered


def kinds(findings: list[Any]) -> list[tuple[str, int | None, str | None]]:
    return [(f.kind.value, f.seq, f.event_id) for f in findings]


def keys_of(key: SigningKey) -> dict[str, Any]:
    return {key.key_id: key.public_key}


def test_canonical_form_is_compact_sorted_utf8_without_integrity() -> None:
    document = {"b": "é\n", "a": {"y": 1, "x": [1.5, None, True]}, "integrity": {"seq": 1}}
    assert canonical_bytes(document) == b'{"a":{"x":[1.5,null,true],"y":1},"b":"\xc3\xa9\\n"}'


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


def _reorder(value: Any, salt: int) -> Any:
    if isinstance(value, dict):
        items = [(k, _reorder(v, salt)) for k, v in value.items()]
        if salt % 2:
            items.reverse()
        else:
            items.sort(key=lambda kv: kv[0], reverse=True)
        return dict(items)
    if isinstance(value, list):
        return [_reorder(v, salt) for v in value]
    return value


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6), st.integers(0, 3))
def test_canonical_form_is_stable_under_key_reordering(document: dict[str, Any], salt: int) -> None:
    assert canonical_bytes(_reorder(document, salt)) == canonical_bytes(document)


def test_extend_links_from_genesis_and_head_recovers() -> None:
    head = ChainHead.genesis(ORG)
    first, head = extend(head, {"a": 1})
    second, head = extend(head, {"a": 2})
    assert first.seq == 1 and first.prev_hash == GENESIS_HASH
    assert first.hash == event_hash(GENESIS_HASH, {"a": 1})
    assert second.prev_hash == first.hash and second.seq == 2
    assert head == ChainHead(ORG, 2, second.hash)
    assert head_of({"a": 2, "integrity": second.as_dict()}) == head


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["org_a", "org_b", "org_c"]),
            st.dictionaries(st.text(max_size=6), json_values, max_size=6),
            st.booleans(),
        ),
        max_size=12,
    ),
    st.integers(min_value=0, max_value=3),
)
def test_a_batch_sealed_at_once_is_extend_and_its_bytes_are_the_stored_documents(
    drawn: list[tuple[str, dict[str, Any], bool]], known: int
) -> None:
    """The ingest path's batch form, against ``extend`` one document after
    the other: the same fields and heads, each organization continuing its
    own chain (some from a stored head); each document serialized once, its
    bytes reading back as the document with its integrity; a document's own
    ``integrity`` member left out of the hash, as always."""
    start = {
        org: ChainHead(org, known, event_hash(GENESIS_HASH, {"n": known}))
        if known
        else ChainHead.genesis(org)
        for org in ("org_a", "org_b", "org_c")
    }
    documents = [
        (org, {**document, "integrity": {"seq": 99}} if stale else document)
        for org, document, stale in drawn
    ]
    heads = dict(start)
    sealed = extend_canonical_batch(heads, documents)

    one_by_one = dict(start)
    stored: dict[str, list[dict[str, Any]]] = {org: [] for org in start}
    for (org, document), (fast, body) in zip(documents, sealed, strict=True):
        fields, one_by_one[org] = extend(one_by_one[org], document)
        assert fast == fields.as_dict()
        without = {k: v for k, v in document.items() if k != "integrity"}
        assert hashed_canonical(fields.prev_hash, document) == (
            fields.hash,
            canonical_bytes(without),
        )
        assert body == with_integrity(canonical_bytes(without), fast)
        read_back = orjson.loads(body)
        assert read_back == {**without, "integrity": fields.as_dict()}
        stored[org].append(read_back)
    assert heads == one_by_one
    if not known:
        for org, chain in stored.items():
            assert verify_chain(chain, [], {}, organization_id=org) == []


def test_untouched_chain_verifies_clean(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    assert verify_chain(chain, digests, keys_of(key), organization_id=ORG) == []


def test_modified_field_is_named(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    docs = tampered(chain)
    docs[6]["event"]["outcome"] = (
        "success" if docs[6]["event"]["outcome"] == "failure" else "failure"
    )
    assert kinds(verify_chain(docs, digests, keys_of(key), organization_id=ORG)) == [
        ("modified", 7, "ev-00007")
    ]


def test_modified_and_rehashed_is_caught_by_link_and_digest(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    docs = tampered(chain)
    docs[6]["user"]["id"] = "usr_innocent"
    docs[6]["integrity"]["hash"] = event_hash(docs[6]["integrity"]["prev_hash"], docs[6])
    found = kinds(verify_chain(docs, digests, keys_of(key), organization_id=ORG))
    assert ("deleted", 8, "ev-00008") in found  # seq 8 no longer links to what is stored


def test_deleted_event_is_named(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    docs = tampered(chain)
    del docs[11]
    found = verify_chain(docs, digests, keys_of(key), organization_id=ORG)
    assert kinds(found) == [("digest_mismatch", 11, None), ("deleted", 12, None)]
    assert "seq 12..12 missing" in found[1].message


def test_deleted_tail_covered_by_a_digest_is_named(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    docs = tampered(chain)[:-2]
    found = kinds(verify_chain(docs, digests, keys_of(key), organization_id=ORG))
    assert ("deleted", 19, None) in found


def test_inserted_forged_event_with_duplicate_seq_is_named(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    docs = tampered(chain)
    forged = tampered([docs[8]])[0]
    forged["event"]["id"] = "ev-forged"
    forged["event"]["action"] = "role.grant"
    forged["integrity"]["hash"] = event_hash(forged["integrity"]["prev_hash"], forged)
    docs.insert(9, forged)
    found = kinds(verify_chain(docs, digests, keys_of(key), organization_id=ORG))
    assert found == [("inserted", 9, "ev-forged")]


def test_inserted_forged_event_with_renumbering_is_named(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    docs = tampered(chain)
    forged = tampered([docs[8]])[0]
    forged["event"]["id"] = "ev-forged"
    forged["integrity"]["prev_hash"] = docs[8]["integrity"]["hash"]
    forged["integrity"]["seq"] = 10
    forged["integrity"]["hash"] = event_hash(forged["integrity"]["prev_hash"], forged)
    for later in docs[9:]:
        later["integrity"]["seq"] += 1
    docs.insert(9, forged)
    found = kinds(verify_chain(docs, digests, keys_of(key), organization_id=ORG))
    assert ("inserted", 10, "ev-forged") in found
    assert not [f for f in found if f[0] in {"modified", "reordered"}]


def test_swapped_seqs_are_named_reordered(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    docs = tampered(chain)
    docs[3]["integrity"]["seq"], docs[4]["integrity"]["seq"] = 5, 4
    found = kinds(verify_chain(docs, digests, keys_of(key), organization_id=ORG))
    assert ("reordered", 4, "ev-00005") in found
    assert ("reordered", 5, "ev-00004") in found
    assert {f[0] for f in found} <= {"reordered", "digest_mismatch"}


def test_digest_with_wrong_signature_or_unknown_key(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    bad = list(digests)
    bad[1] = bad[1].model_copy(update={"count": 5, "to_time": bad[2].to_time})
    other = build_digests(chain, generate_signing_key(), every=5)
    bad[2] = other[2]
    found = kinds(verify_chain(chain, bad, keys_of(key), organization_id=ORG))
    assert ("bad_signature", 10, None) in found
    assert ("unknown_key", 15, None) in found
    assert ("digest_chain_broken", 16, None) in found


def test_digest_chain_with_a_removed_digest_is_broken(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    found = kinds(verify_chain(chain, [digests[0], digests[2]], keys_of(key), organization_id=ORG))
    assert ("digest_chain_broken", 11, None) in found


def test_whole_chain_rewritten_after_signing_fails_the_digest(key: SigningKey) -> None:
    original = build_chain(10)
    digests = build_digests(original, key, every=10)
    rewritten = build_chain(10)
    rewritten[4]["event"]["outcome"] = "success"
    head = ChainHead.genesis(ORG)
    for document in rewritten:
        fields, head = extend(head, document)
        document["integrity"] = fields.as_dict()
    found = kinds(verify_chain(rewritten, digests, keys_of(key), organization_id=ORG))
    assert found == [("digest_mismatch", 10, "ev-00010")]


def test_range_mid_chain_needs_an_anchor(key: SigningKey) -> None:
    docs = build_chain(20)
    digests = build_digests(docs, key, every=5)
    tail = docs[7:]  # starts at seq 8, inside the digest 6..10
    found = kinds(verify_chain(tail, digests[2:], keys_of(key), organization_id=ORG))
    assert found == [("unanchored", 8, "ev-00008")]
    previous = docs[6]["integrity"]
    anchor = ChainHead(ORG, previous["seq"], previous["hash"])
    assert verify_chain(tail, digests[2:], keys_of(key), organization_id=ORG, anchor=anchor) == []
    # starting at a digest boundary, the digest's first_prev_hash anchors it
    assert verify_chain(docs[10:], digests[2:], keys_of(key), organization_id=ORG) == []
    wrong = ChainHead(ORG, 7, "f" * 64)
    found = kinds(verify_chain(tail, digests[2:], keys_of(key), organization_id=ORG, anchor=wrong))
    assert found[0][0] in {"inserted", "deleted"}


def test_event_from_another_chain_is_inserted(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    stranger = build_chain(3, org="org_0b1d")[2]
    found = kinds(verify_chain([*chain, stranger], digests, keys_of(key), organization_id=ORG))
    assert found == [("inserted", 3, "ev-00003")]


def test_missing_integrity_is_malformed(
    chain: list[dict[str, Any]], digests: list[Digest], key: SigningKey
) -> None:
    docs = tampered(chain)
    del docs[19]["integrity"]
    found = kinds(verify_chain(docs, digests, keys_of(key), organization_id=ORG))
    assert ("malformed", None, "ev-00020") in found
    assert ("deleted", 20, None) in found
