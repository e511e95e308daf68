"""Server time of the web console's pages over N stored events, next to the same
Elasticsearch events query sent directly.

Run: .venv/bin/python bench/bench_console.py [--events N] [--requests R] [--incidents I]

Stores N events (default 1,000,000; bench_api.py's generator: 5,000 users,
2,000 IPs over 30 days, one organization) under a throw-away prefix, writes
I incidents (default 50) through the real incident service, builds the app
with ``create_app(settings)`` in-process and signs in through the
development sign-in, then times R requests (default 200) of (1) the
incidents queue, (2) an incident's page (its checklist, detections and the
events of its window), (3) an event search over 24 hours of the
organization, each answered in full (rendered HTML, the audit event acked by
Kafka). The direct query is the event search's Elasticsearch query alone.
Prints JSON: p50/p95 in ms, and the pages' p95 over the direct query's.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))
from bench_api import ORG, T0, store

from audit.adapters.elasticsearch.event_search import EventQuery, page_body
from audit.adapters.elasticsearch.event_store import load_mapping
from audit.api import create_app
from audit.domain.detection.record import Detection, Severity
from audit.settings import load_settings
from audit.wiring.incidents import build_incidents


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 2), "p95_ms": round(cuts[94] * 1000, 2)}


def measure(run: Callable[[int], None], requests: int) -> dict[str, float]:
    for i in range(5):  # warm up
        run(i)
    samples = []
    for i in range(requests):
        started = time.perf_counter()
        run(i)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def incidents(settings: Any, es: Elasticsearch, count: int) -> list[str]:
    wiring = build_incidents(settings, es)
    ids = []
    rng = random.Random(3)
    for n in range(count):
        at = T0 + timedelta(hours=rng.randrange(29 * 24))
        user, ip = f"usr_{rng.randrange(5000)}", f"10.0.{n % 250}.{1 + n % 200}"
        det = Detection(
            id=f"bench-det-{n}",
            rule_id="auth.brute_force",
            rule_name="Auth Brute Force",
            severity=Severity(rng.choice(["low", "medium", "high", "critical"])),
            group_key={"source.ip": ip},
            organization_ids=[ORG],
            affected_organization_ids=[],
            first_seen=at,
            last_seen=at + timedelta(minutes=10),
            event_count=20,
            event_ids=[f"bench-{n}-e{i}" for i in range(20)],
            data_categories=["authentication_security"],
            entities={"source.ip": [ip], "user.id": [user]},
            window_start=at,
            detected_at=at + timedelta(minutes=10, seconds=2),
        )
        wiring.detections.put(det)
        ids.append(wiring.service.handle_detection(det, det.detected_at or at).incident_id)
    wiring.detections.refresh()
    wiring.store.refresh()
    return [i for i in ids if i]


def sign_in(client: TestClient) -> None:
    page = client.get("/ui/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the sign-in page"
    answer = client.post(
        "/ui/sign-in/dev",
        data={"csrf_token": token.group(1), "name": "bench", "role": "oncall", "scope": "*"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--incidents", type=int, default=50)
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
    keys_file = Path(f"/tmp/{tag}-keys")
    keys_file.write_text(f"sha256:{'0' * 64} nobody auditor *\n")
    try:
        started = time.perf_counter()
        store(es, prefix, args.events)
        result["store_s"] = round(time.perf_counter() - started, 1)
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
        ids = incidents(settings, es, args.incidents)
        result["incidents"] = len(ids)
        rng = random.Random(11)
        days = [T0 + timedelta(days=rng.randrange(29)) for _ in range(args.requests + 5)]

        def iso(moment: Any) -> str:
            return str(moment.isoformat().replace("+00:00", "Z"))

        with TestClient(create_app(settings), base_url="https://testserver") as client:
            sign_in(client)

            def queue(i: int) -> None:
                response = client.get("/ui/incidents")
                assert response.status_code == 200 and ids[0] in response.text, response.text

            def incident(i: int) -> None:
                response = client.get(f"/ui/incidents/{ids[i % len(ids)]}")
                assert response.status_code == 200, response.text

            def search(i: int) -> None:
                since, until = days[i], days[i] + timedelta(hours=24)
                response = client.get(
                    "/ui/events",
                    params={"organization_id": ORG, "since": iso(since), "until": iso(until)},
                )
                assert response.status_code == 200 and "events shown" in response.text

            def direct(i: int) -> None:
                query = EventQuery(
                    organization_id=ORG, since=days[i], until=days[i] + timedelta(hours=24)
                )
                es.search(index=prefix, **page_body(query, 50, descending=True))

            baseline = measure(direct, args.requests)
            result["es_direct_search"] = baseline
            for name, run in (("queue", queue), ("incident_page", incident), ("search", search)):
                timed = measure(run, args.requests)
                timed["p95_over_direct"] = round(timed["p95_ms"] / baseline["p95_ms"], 2)
                result[name] = timed
    finally:
        keys_file.unlink(missing_ok=True)
        names = list(es.indices.get(index=f"{tag}-*", allow_no_indices=True))
        if names:
            es.indices.delete(index=",".join(names))
        es.indices.delete_index_template(name=prefix)
        es.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
