"""What the hash chain costs Elasticsearch: CPU and disk per stored event.

    .venv/bin/python bench/bench_chain_storage.py [--events 100000] [--rounds 3]

Needs a running node (``audit stack up``, or AUDIT_ES_URL). The bench's
traffic, validated once, is bulk-created (2,000 per request, as the
consumer writes) into fresh indices made from the events template:
  - ``plain``: the documents without ``integrity`` (the chain off);
  - ``sealed``: the same documents sealed by ``ChainKeeper`` (the bytes the
    consumer writes), under the template as it is;
  - ``sealed, hashes indexed``: the same under the template with
    ``integrity.hash`` and ``integrity.prev_hash`` indexed with doc values,
    as template version 1 had them;
  - ``sealed, integrity not indexed``: the sealed documents under a template
    whose ``integrity`` object is not indexed at all (``enabled: false``):
    what the object's bytes alone cost (parsing, storing ``_source``);
  - ``sealed, duplicate check``: the sealed documents under the template as
    it is, each request preceded by the chain's duplicate check (a real-time
    ``mget`` of its ids: ``ElasticsearchEventStore.existing_ids``).
For each: the node's CPU per document (``_nodes/stats`` process CPU, over the
requests and 1.5 s after them, so that the refresh that follows counts),
the rate, and the store size after a force merge to one segment. The
variants run in turn within each round, in reverse order every other round
(drift of the machine spreads over all of them); the machine is shared and
noisy, so compare within a round, and the medians printed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from bench_chain_feed import NothingStored
from bench_ingest import bulk_create, node_cpu_seconds
from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.event_store import ElasticsearchEventStore, load_mapping
from audit.domain.event import NormalizedEvent, normalize_message
from audit.errors import EventRejected
from audit.replay.mix import mixed_stream
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from audit.services.chain_keeper import ChainKeeper
from audit.services.ports.ingest import StoredDocument
from audit.settings import load_settings

BATCH = 2000


def templates() -> dict[str, dict[str, Any]]:
    current: dict[str, Any] = load_mapping("audit-events")["template"]
    indexed = copy.deepcopy(current)
    chain = indexed["mappings"]["properties"]["integrity"]["properties"]
    for name in ("hash", "prev_hash"):
        chain[name] = {"type": "keyword", "ignore_above": 1024}
    unindexed = copy.deepcopy(current)
    unindexed["mappings"]["properties"]["integrity"] = {"type": "object", "enabled": False}
    return {"current": current, "hashes indexed": indexed, "integrity not indexed": unindexed}


def measure(
    es: Elasticsearch,
    index: str,
    template: dict[str, Any],
    items: list[tuple[str, bytes]],
    check: bool = False,
) -> dict[str, float]:
    es.indices.create(index=index, settings=template["settings"], mappings=template["mappings"])
    try:
        time.sleep(2)  # the index creation's own work settles
        cpu, wall = node_cpu_seconds(es), time.perf_counter()
        store = ElasticsearchEventStore(es)
        for start in range(0, len(items), BATCH):
            part = items[start : start + BATCH]
            if check:  # the consumer's own duplicate check, before the request
                store.existing_ids([(index, doc_id) for doc_id, _ in part])
            bulk_create(es, index, part, BATCH)
        elapsed = time.perf_counter() - wall
        time.sleep(1.5)
        cpu = node_cpu_seconds(es) - cpu
        es.indices.forcemerge(index=index, max_num_segments=1)
        es.indices.refresh(index=index)
        size_kb = float(es.cat.indices(index=index, h="store.size", bytes="kb").strip())
    finally:
        es.indices.delete(index=index)
    return {
        "rate": round(len(items) / elapsed),
        "node_cpu_us_per_event": round(cpu / len(items) * 1e6, 1),
        "bytes_per_event": round(size_kb * 1024 / len(items)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    now = datetime.now(UTC)
    events: list[NormalizedEvent] = []
    seen: set[str] = set()
    profile = TrafficProfile.benchmark(now)
    for message in mixed_stream(TrafficGenerator(profile), args.events).messages:
        with contextlib.suppress(EventRejected):  # the mix's malformed share
            event = normalize_message(message.value, received_at=now)
            if event.event_id not in seen:  # and its duplicates
                seen.add(event.event_id)
                events.append(event)
    plain = [(e.event_id, orjson.dumps(e.document)) for e in events]
    entries = [
        (e.organization_id, StoredDocument("x", e.event_id, dict(e.document))) for e in events
    ]
    _, _, bodies = ChainKeeper(NothingStored()).seal_encoded(entries)
    sealed = [(entries[i][1].doc_id, bodies[i]) for i in range(len(entries))]

    by_name = templates()
    runs: list[tuple[str, dict[str, Any], list[tuple[str, bytes]], bool]] = [
        ("plain", by_name["current"], plain, False),
        ("sealed", by_name["current"], sealed, False),
        ("sealed, hashes indexed", by_name["hashes indexed"], sealed, False),
        ("sealed, integrity not indexed", by_name["integrity not indexed"], sealed, False),
        ("sealed, duplicate check", by_name["current"], sealed, True),
    ]
    es = Elasticsearch(load_settings().es_url, request_timeout=300)
    tag = f"bench-chain-storage-{int(time.time())}"
    print(f"{len(events):,} events, {BATCH:,} per bulk request")
    cpu: dict[str, list[float]] = {name: [] for name, *_ in runs}
    for round_ in range(args.rounds):
        figures: dict[str, dict[str, float]] = {}
        order = list(enumerate(runs))
        for number, (name, template, items, check) in order if round_ % 2 == 0 else order[::-1]:
            figures[name] = measure(es, f"{tag}-{round_}-{number}", template, items, check)
            cpu[name].append(figures[name]["node_cpu_us_per_event"])
        print(json.dumps({"round": round_, **figures}))
    es.close()
    print("median node CPU µs per event:")
    for name, values in cpu.items():
        print(f"  {name:<32} {statistics.median(values):6.1f}  {values}")


if __name__ == "__main__":
    main()
