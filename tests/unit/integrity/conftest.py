from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audit.domain.integrity import (
    ChainHead,
    Digest,
    SigningKey,
    extend,
    generate_signing_key,
    new_digest,
)

ORG = "org_7f3a"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def make_document(i: int, org: str = ORG, user: str = "usr_19c2") -> dict[str, Any]:
    return {
        "@timestamp": (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
        "event": {
            "id": f"ev-{i:05d}",
            "action": "user.login",
            "outcome": "failure" if i % 3 else "success",
            "provider": "auth-service",
        },
        "organization": {"id": org},
        "user": {"id": user if i % 2 else "usr_other", "name": "dana@acme.example"},
        "source": {
            "ip": "198.51.100.23",
            "geo": {"country_iso_code": "FR", "location": {"lat": 48.85, "lon": 2.35}},
            "as": {"number": 64501},
        },
        "user_agent": {"original": "=cmd|' /C calc'!A0"},
        "elastra": {"data_category": "authentication_security"},
    }


def build_chain(count: int, org: str = ORG) -> list[dict[str, Any]]:
    head = ChainHead.genesis(org)
    documents = []
    for i in range(1, count + 1):
        document = make_document(i, org)
        fields, head = extend(head, document)
        document["integrity"] = fields.as_dict()
        documents.append(document)
    return documents


def build_digests(documents: list[dict[str, Any]], key: SigningKey, every: int) -> list[Digest]:
    digests: list[Digest] = []
    previous: Digest | None = None
    for start in range(0, len(documents), every):
        part = documents[start : start + every]
        times = [datetime.fromisoformat(d["@timestamp"]) for d in part]
        previous = new_digest(
            organization_id=part[0]["integrity"]["chain"],
            first_seq=part[0]["integrity"]["seq"],
            last_seq=part[-1]["integrity"]["seq"],
            first_prev_hash=part[0]["integrity"]["prev_hash"],
            head_hash=part[-1]["integrity"]["hash"],
            from_time=min(times),
            to_time=max(times),
            previous=previous,
            signed_at=max(times) + timedelta(minutes=5),
            key=key,
        )
        digests.append(previous)
    return digests


@pytest.fixture(scope="session")
def key() -> SigningKey:
    return generate_signing_key()


@pytest.fixture
def chain() -> list[dict[str, Any]]:
    return build_chain(20)


@pytest.fixture
def digests(chain: list[dict[str, Any]], key: SigningKey) -> list[Digest]:
    return build_digests(chain, key, every=5)


def tampered(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return copy.deepcopy(chain)
