"""HTTP API latency over N stored events, next to the same Elasticsearch query sent directly.

Run: .venv/bin/python bench/bench_api.py [--events N] [--requests R]

Stores N events (default 1,000,000: 5,000 users, 2,000 IPs over 30 days)
on the local dev stack under a throw-away prefix, builds the app with
``create_app(settings)`` in-process (authentication, authorization, the
audit event published to Kafka with acks=all, rendering), then measures
R requests (default 200) of (1) a user's 24-hour timeline and (2) an IP's
top values, each next to the same events query sent directly to
Elasticsearch in the same run. Prints JSON: p50/p99 in ms and the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from audit.adapters.elasticsearch.event_search import page_body, query_dsl
from audit.adapters.elasticsearch.event_store import load_mapping
from audit.api import create_app
from audit.services.event_search import TOP_FIELDS
from audit.services.ports.events import EventQuery
from audit.settings import load_settings

ORG = "org_7f3a"
T0 = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
USERS = 5000
IPS = 2000


def document(i: int, rng: random.Random) -> dict[str, Any]:
    when = T0 + timedelta(seconds=rng.randrange(DAYS * 86400))
    user = rng.randrange(USERS)
    ip = (user * 7 + rng.randrange(3)) % IPS
    return {
        "@timestamp": when.isoformat().replace("+00:00", "Z"),
        "event": {
            "id": f"bench-{i:09d}",
            "action": rng.choice(["user.login", "token.use", "session.create", "content.read"]),
            "outcome": rng.choice(["success", "failure"]),
            "provider": "auth-service",
            "ingested": when.isoformat().replace("+00:00", "Z"),
        },
        "organization": {"id": ORG},
        "user": {"id": f"usr_{user}"},
        "source": {
            "ip": f"10.{ip // 250}.{ip % 250}.{1 + user % 200}",
            "geo": {"country_iso_code": rng.choice(["FR", "DE", "US", "BR", "JP"])},
            "as": {"number": 64500 + ip % 40},
        },
        "elastra": {"data_category": "authentication_security", "session": {"id": f"s{user}"}},
    }


def store(es: Elasticsearch, prefix: str, count: int) -> None:
    rng = random.Random(7)
    operations: list[Any] = []
    for i in range(count):
        doc = document(i, rng)
        day = doc["@timestamp"][:10].replace("-", ".")
        operations.append({"create": {"_index": f"{prefix}-standard-{day}", "_id": f"b{i}"}})
        operations.append(doc)
        if len(operations) >= 20_000 or i == count - 1:
            if es.bulk(operations=operations, filter_path="errors").get("errors"):
                raise SystemExit("bulk errors while storing")
            operations = []
    es.indices.refresh(index=prefix)


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 2), "p99_ms": round(cuts[98] * 1000, 2)}


def measure(run: Callable[[int], None], requests: int) -> dict[str, float]:
    for i in range(5):  # warm up
        run(i)
    samples = []
    for i in range(requests):
        started = time.perf_counter()
        run(i)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--es", default="http://127.0.0.1:19200")
    parser.add_argument("--kafka", default="127.0.0.1:19092")
    args = parser.parse_args()
    tag = f"bench{uuid.uuid4().hex[:8]}"
    prefix = f"{tag}-events"
    es = Elasticsearch(args.es, request_timeout=300)
    body = load_mapping("audit-events")
    body["index_patterns"] = [f"{prefix}-*"]
    body.setdefault("template", {})["aliases"] = {prefix: {}}
    es.indices.put_index_template(name=prefix, **body)
    result: dict[str, Any] = {"events": args.events, "requests": args.requests}
    try:
        started = time.perf_counter()
        store(es, prefix, args.events)
        result["store_s"] = round(time.perf_counter() - started, 1)
        with tempfile.TemporaryDirectory() as tmp:
            key = "bench_" + uuid.uuid4().hex
            keys_file = Path(tmp) / "keys"
            digest = hashlib.sha256(key.encode()).hexdigest()
            keys_file.write_text(f"sha256:{digest} bench oncall *\n")
            settings = load_settings(
                es_url=args.es,
                kafka_bootstrap=args.kafka,
                index_prefix=prefix,
                topic_security=f"{tag}.audit.security",
                incident_index=f"{tag}-incidents",
                detection_index=f"{tag}-detections",
                disclosure_index=f"{tag}-disclosures",
                notification_index=f"{tag}-notifications",
                lock_index=f"{tag}-locks",
                api_keys_file=str(keys_file),
            )
            headers = {"Authorization": f"Bearer {key}"}
            rng = random.Random(11)
            days = [T0 + timedelta(days=rng.randrange(DAYS - 1)) for _ in range(args.requests + 5)]
            users = [f"usr_{rng.randrange(USERS)}" for _ in days]
            ips = [f"10.{n // 250}.{n % 250}.{1 + rng.randrange(200)}" for n in range(len(days))]

            def iso(moment: datetime) -> str:
                return moment.isoformat().replace("+00:00", "Z")

            with TestClient(create_app(settings)) as client:

                def api_timeline(i: int) -> None:
                    response = client.get(
                        "/v1/events/timeline",
                        params={
                            "entity": "user",
                            "value": users[i],
                            "since": iso(days[i]),
                            "until": iso(days[i] + timedelta(hours=24)),
                            "limit": 200,
                        },
                        headers=headers,
                    )
                    assert response.status_code == 200, response.text

                def es_timeline(i: int) -> None:
                    query = EventQuery(
                        user_id=users[i], since=days[i], until=days[i] + timedelta(hours=24)
                    )
                    search = page_body(query, 200, descending=False)
                    search["sort"] = [{"@timestamp": "asc"}, {"event.id": "asc"}]
                    search["track_total_hits"] = 10_000
                    es.search(index=prefix, **search)

                def api_top(i: int) -> None:
                    response = client.get(
                        "/v1/events/top",
                        params={
                            "entity": "ip",
                            "value": ips[i],
                            "since": iso(T0),
                            "until": iso(T0 + timedelta(days=DAYS)),
                        },
                        headers=headers,
                    )
                    assert response.status_code == 200, response.text

                def es_top(i: int) -> None:
                    query = EventQuery(source_ip=ips[i], since=T0, until=T0 + timedelta(days=DAYS))
                    aggs = {n: {"terms": {"field": f, "size": 10}} for n, f in TOP_FIELDS.items()}
                    dsl = query_dsl(query)
                    es.search(index=prefix, size=0, query=dsl, aggs=aggs, track_total_hits=True)

                for name, api, direct in (
                    ("user_timeline_24h", api_timeline, es_timeline),
                    ("ip_top_values", api_top, es_top),
                ):
                    through_api = measure(api, args.requests)
                    sent_direct = measure(direct, args.requests)
                    result[name] = {
                        "api": through_api,
                        "es_direct": sent_direct,
                        "ratio_p50": round(through_api["p50_ms"] / sent_direct["p50_ms"], 2),
                        "ratio_p99": round(through_api["p99_ms"] / sent_direct["p99_ms"], 2),
                    }
    finally:
        names = list(es.indices.get(index=f"{tag}-*", allow_no_indices=True))
        if names:
            es.indices.delete(index=",".join(names))
        es.indices.delete_index_template(name=prefix)
        es.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
