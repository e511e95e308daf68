"""Integrity throughput: chain extension vs plain canonical JSON, and verification.

Run: .venv/bin/python bench/bench_integrity.py [--events N] [--repeat R]

Prints events/s for (1) the baseline, serializing each document to its
canonical JSON (orjson, sorted keys), (2) extending the chain (canonical
JSON + SHA-256 + integrity fields), their ratio from the same run,
(2b) extending the chain as version-2 links (an HMAC commitment per
personal field under the subject's key, keys already in the keyring's
cache as in steady state: the consumer meets the same users again and
again), its ratio to version 1, and (3) ``verify_chain`` over the whole
chain with a signed digest every 10,000 events. Best of R repeats for each.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.domain.integrity import (
    ChainHead,
    Digest,
    canonical_bytes,
    extend,
    generate_signing_key,
    new_digest,
    verify_chain,
)
from audit.domain.integrity.chain import extend_v2
from audit.services.commitments import Committer
from audit.services.subject_keys import SubjectKeyring

ORG = "org_7f3a"


class _MemoryKeys:
    """The subject key store, in memory (the bench measures the CPU side)."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    def get(self, key_ids: Sequence[str]) -> dict[str, bytes]:
        return {k: self.keys[k] for k in key_ids if k in self.keys}

    def create(self, wrapped: Mapping[str, bytes]) -> dict[str, bytes]:
        for k, v in wrapped.items():
            self.keys.setdefault(k, v)
        return {k: self.keys[k] for k in wrapped}

    def destroy(self, key_ids: Sequence[str]) -> None:
        for k in key_ids:
            self.keys.pop(k, None)


T0 = datetime(2026, 11, 26, tzinfo=UTC)


def document(i: int) -> dict[str, Any]:
    return {
        "@timestamp": (T0 + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
        "event": {
            "id": f"01JDX3W6K2Q0M9ZC{i:010d}",
            "action": "user.login",
            "outcome": "failure",
            "reason": "bad_password",
            "provider": "auth-service",
            "category": ["authentication"],
            "type": ["start"],
            "ingested": "2026-11-26T09:14:03.500Z",
        },
        "organization": {"id": ORG},
        "user": {"id": f"usr_{i % 97}", "name": "dana@acme.example"},
        "source": {
            "ip": "198.51.100.23",
            "geo": {"country_iso_code": "FR", "location": {"lat": 48.85, "lon": 2.35}},
            "as": {"number": 64501},
        },
        "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64)"},
        "elastra": {"data_category": "authentication_security"},
    }


def best(repeat: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    docs = [document(i) for i in range(args.events)]

    def baseline() -> None:
        for doc in docs:
            canonical_bytes(doc)

    def chained() -> None:
        head = ChainHead.genesis(ORG)
        for doc in docs:
            _, head = extend(head, doc)

    keyring = SubjectKeyring(_MemoryKeys(), bytes(32))
    committer = Committer(keyring)
    committer.commit_batch([(ORG, doc) for doc in docs[:1000]])  # warm the key cache

    def chained_v2() -> None:
        head = ChainHead.genesis(ORG)
        for start in range(0, len(docs), 2000):
            batch = docs[start : start + 2000]
            sealed = committer.commit_batch([(ORG, doc) for doc in batch])
            for doc, (commitments, keys) in zip(batch, sealed, strict=True):
                _, head = extend_v2(head, doc, commitments, keys)

    base_s = best(args.repeat, baseline)
    chain_s = best(args.repeat, chained)
    chain2_s = best(args.repeat, chained_v2)

    stored = copy.deepcopy(docs)
    head = ChainHead.genesis(ORG)
    for doc in stored:
        fields, head = extend(head, doc)
        doc["integrity"] = fields.as_dict()
    key = generate_signing_key()
    digests: list[Digest] = []
    previous: Digest | None = None
    for start in range(0, len(stored), 10_000):
        part = stored[start : start + 10_000]
        previous = new_digest(
            organization_id=ORG,
            first_seq=part[0]["integrity"]["seq"],
            last_seq=part[-1]["integrity"]["seq"],
            first_prev_hash=part[0]["integrity"]["prev_hash"],
            head_hash=part[-1]["integrity"]["hash"],
            from_time=datetime.fromisoformat(part[0]["@timestamp"]),
            to_time=datetime.fromisoformat(part[-1]["@timestamp"]),
            previous=previous,
            signed_at=T0 + timedelta(days=1),
            key=key,
        )
        digests.append(previous)
    keys = {key.key_id: key.public_key}
    findings: list[Any] = []

    def verify() -> None:
        findings[:] = verify_chain(stored, digests, keys, organization_id=ORG)

    verify_s = best(args.repeat, verify)
    assert not findings, findings[:3]
    n = args.events
    print(f"events: {n}, best of {args.repeat}")
    print(f"canonical JSON only : {n / base_s:12,.0f} events/s")
    print(f"chain extension     : {n / chain_s:12,.0f} events/s")
    print(f"ratio extend/plain  : {base_s / chain_s:12.2f}")
    print(f"chain extension v2  : {n / chain2_s:12,.0f} events/s (commitments, cached keys)")
    print(f"ratio v2/v1         : {chain_s / chain2_s:12.2f}")
    print(f"verify_chain        : {n / verify_s:12,.0f} events/s ({len(digests)} digests)")


if __name__ == "__main__":
    main()
