"""CPU per event of the ingest stages the hash chain and the detection feed add.

    .venv/bin/python bench/bench_chain_feed.py [--events 20000] [--repeat 15]

Pure (no stack): the bench's traffic, validated once, then per event:
  - the plain bulk body (``orjson.dumps`` of each document: what the store
    serializes with the chain off);
  - sealing as the consumer does with the chain on (``seal_encoded``: the
    duplicate check answered empty, no subject restricted), whose bytes are
    the bulk body;
  - the chain's own cost: the two above subtracted;
  - the detection feed's ``publish`` of the routed records, batches of
    2,000 events, over a producer that only takes the messages.
Process CPU (``time.process_time``), min and median of ``--repeat`` rounds
run alternately, so that a noisy machine shows in the median, not the min.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from audit.adapters.bundled_data import load_rule_dir
from audit.adapters.kafka.detection_feed import KafkaDetectionFeed
from audit.domain.detection.routing import RoutedEvent, Router
from audit.domain.event import NormalizedEvent, normalize_message
from audit.domain.integrity.chain import ChainHead
from audit.errors import EventRejected
from audit.replay.mix import mixed_stream
from audit.replay.traffic import TrafficGenerator, TrafficProfile
from audit.services.chain_keeper import ChainKeeper
from audit.services.ports.ingest import StoredDocument
from audit.services.restricted_subjects import RestrictedSubjects
from audit.settings import load_settings

BATCH = 2000


class NothingStored:
    """A chain store that holds nothing: sealing without a node."""

    def refresh(self) -> None: ...

    def existing_ids(self, refs: Sequence[tuple[str, str]]) -> set[str]:
        return set()

    def latest_heads(self, organization_ids: Sequence[str]) -> dict[str, ChainHead]:
        return {}


class _NoRequests:
    """No data-subject request: the usual case on the ingest path."""

    def create(self, request_id: str, document: Mapping[str, Any]) -> bool:
        raise AssertionError("not on the ingest path")

    def get(self, request_id: str) -> dict[str, Any]:
        raise AssertionError("not on the ingest path")

    def replace(self, request_id: str, document: Mapping[str, Any]) -> None:
        raise AssertionError("not on the ingest path")

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        return []


class _TakingProducer:
    """Takes messages and does nothing: the bench measures the feed's own work."""


class _NoDeliveries:
    """Queues nothing and counts nothing (the feed's ``DeliveryReports`` role)."""

    def produce(self, producer: Any, topic: str, value: bytes, **where: Any) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    profile = TrafficProfile.benchmark(datetime.now(UTC))
    now = datetime.now(UTC)
    events: list[NormalizedEvent] = []
    for message in mixed_stream(TrafficGenerator(profile), args.events).messages:
        with contextlib.suppress(EventRejected):  # the mix's malformed share
            events.append(normalize_message(message.value, received_at=now))
    settings = load_settings()
    router = Router(load_rule_dir(settings.rules_dir))
    routed = [[r for r in router.route(e)] for e in events]

    def documents() -> list[tuple[str, StoredDocument]]:
        return [
            (e.organization_id, StoredDocument("idx", e.event_id, dict(e.document))) for e in events
        ]

    def plain() -> float:
        docs = documents()
        start = time.process_time()
        for _, doc in docs:
            orjson.dumps(doc.source)
        return time.process_time() - start

    def sealed() -> float:
        docs = documents()
        keeper = ChainKeeper(NothingStored(), restrictions=RestrictedSubjects(_NoRequests()))
        start = time.process_time()
        for i in range(0, len(docs), BATCH):
            keeper.seal_encoded(docs[i : i + BATCH])
        return time.process_time() - start

    feed = KafkaDetectionFeed(settings)
    # Bench only: a producer that takes the messages, six partitions.
    feed._client = _TakingProducer()
    feed._partitions = list(range(6))
    feed._deliveries = _NoDeliveries()  # type: ignore[assignment]
    batches: list[list[RoutedEvent]] = [
        [r for records in routed[i : i + BATCH] for r in records]
        for i in range(0, len(routed), BATCH)
    ]

    def publish() -> float:
        start = time.process_time()
        for batch in batches:
            feed.publish(batch)
        return time.process_time() - start

    runs: dict[str, Callable[[], float]] = {"plain": plain, "sealed": sealed, "feed": publish}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():
            seconds[name].append(run())
    n = len(events)

    def us(values: list[float]) -> dict[str, float]:
        return {
            "min": round(min(values) / n * 1e6, 2),
            "median": round(statistics.median(values) / n * 1e6, 2),
        }

    own = [s - p for s, p in zip(seconds["sealed"], seconds["plain"], strict=True)]
    print(
        json.dumps(
            {
                "events": n,
                "routed_records_per_event": round(sum(map(len, routed)) / n, 3),
                "plain_bulk_body_us_per_event": us(seconds["plain"]),
                "seal_with_body_us_per_event": us(seconds["sealed"]),
                "chain_own_cost_us_per_event": us(own),
                "feed_publish_us_per_event": us(seconds["feed"]),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
