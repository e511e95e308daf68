"""Waiting on and reading from the real servers in integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from elasticsearch import Elasticsearch

from audit.adapters.kafka.dead_letter_reader import DeadLetter, read_dead_letters
from audit.settings import Settings


def stored_count(es: Elasticsearch, settings: Settings) -> int:
    try:
        es.indices.refresh(index=settings.index_prefix, ignore_unavailable=True)
        return int(es.count(index=settings.index_prefix, ignore_unavailable=True)["count"])
    except Exception:  # the node may be down on purpose in an outage test
        return -1


def stored_ids(es: Elasticsearch, settings: Settings) -> list[str]:
    """Every stored event id (with repeats, if any were stored twice)."""
    es.indices.refresh(index=settings.index_prefix)
    ids: list[str] = []
    pit = es.open_point_in_time(index=settings.index_prefix, keep_alive="1m")["id"]
    after = None
    while True:
        body = {
            "size": 5000,
            "pit": {"id": pit, "keep_alive": "1m"},
            "_source": ["event.id"],
            "sort": [{"_shard_doc": "asc"}],
        }
        if after:
            body["search_after"] = after
        hits = es.search(**body)["hits"]["hits"]
        if not hits:
            break
        ids.extend(h["_source"]["event"]["id"] for h in hits)
        after = hits[-1]["sort"]
    es.close_point_in_time(id=pit)
    return ids


def dead_letters(settings: Settings) -> list[DeadLetter]:
    return list(read_dead_letters(settings))


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def chain_findings(es: Elasticsearch, settings: Settings) -> dict[str, list[str]]:
    """Per organization, what the verifier finds in its stored hash chain.

    Also checks the first link starts the chain (seq 1, genesis prev_hash).
    """
    from audit.domain.integrity.chain import GENESIS_HASH
    from audit.domain.integrity.verify import verify_chain

    es.indices.refresh(index=settings.index_prefix)
    by_org: dict[str, list[dict[str, Any]]] = {}
    pit = es.open_point_in_time(index=settings.index_prefix, keep_alive="1m")["id"]
    after = None
    while True:
        body: dict[str, Any] = {
            "size": 5000,
            "pit": {"id": pit, "keep_alive": "1m"},
            "sort": [{"integrity.chain": "asc"}, {"integrity.seq": "asc"}, {"_shard_doc": "asc"}],
        }
        if after:
            body["search_after"] = after
        hits = es.search(**body)["hits"]["hits"]
        if not hits:
            break
        for hit in hits:
            by_org.setdefault(hit["_source"]["organization"]["id"], []).append(hit["_source"])
        after = hits[-1]["sort"]
    es.close_point_in_time(id=pit)
    findings: dict[str, list[str]] = {}
    for org, docs in by_org.items():
        found = [
            f"{f.kind}:{f.seq}:{f.message}" for f in verify_chain(docs, [], {}, organization_id=org)
        ]
        first = docs[0].get("integrity", {})
        if first.get("seq") != 1 or first.get("prev_hash") != GENESIS_HASH:
            found.append(f"chain does not start at genesis: {first}")
        if found:
            findings[org] = found
    return findings
