"""`audit verify` and `audit export` over many stored events, on a running stack.

Run (the dev stack, `audit stack up`): .venv/bin/python bench/bench_verify_export.py
[--events N (default 1,000,000)] [--es URL (default http://127.0.0.1:19200)] [--keep]

Stores N chained events of one organization via bulk into a fresh index
prefix (as the consumer would store them), signs the digests, then reports
verification events/s, export events/s (unredacted NDJSON bundle, checked
offline afterwards is not timed) and the process's peak RSS after each
phase, as one JSON object. Its indices are deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.event_store import load_mapping
from audit.adapters.metrics import PrometheusMetrics
from audit.domain.export import PROFILES, ExportFormat
from audit.domain.integrity import ChainHead, extend
from audit.services.export import ExportRequest
from audit.settings import load_settings
from audit.wiring.trail import build_trail

ORG = "org_bench"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def document(i: int, when: datetime) -> dict[str, Any]:
    return {
        "@timestamp": when.isoformat().replace("+00:00", "Z"),
        "event": {
            "id": f"bench-{i:08d}",
            "action": "user.login",
            "outcome": "failure" if i % 3 else "success",
            "provider": "auth-service",
            "category": ["authentication"],
            "type": ["start"],
        },
        "organization": {"id": ORG, "name": "Bench Corp"},
        "user": {"id": f"usr_{i % 500}", "name": f"user{i % 500}@bench.example"},
        "source": {
            "ip": f"198.51.{i % 200}.{i % 250}",
            "geo": {"country_iso_code": "FR", "location": {"lat": 48.85, "lon": 2.35}},
            "as": {"number": 64500 + i % 20},
        },
        "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"},
        "elastra": {"data_category": "authentication_security", "session": {"id": f"s{i}"}},
    }


def store(es: Elasticsearch, prefix: str, count: int) -> None:
    head = ChainHead.genesis(ORG)
    operations: list[Any] = []
    for i in range(1, count + 1):
        when = T0 + timedelta(seconds=i * 2)
        doc = document(i, when)
        fields, head = extend(head, doc)
        doc["integrity"] = fields.as_dict()
        operations.append(
            {"create": {"_index": f"{prefix}-standard-{when:%Y.%m.%d}", "_id": doc["event"]["id"]}}
        )
        operations.append(doc)
        if len(operations) >= 10_000 or i == count:
            response = es.bulk(operations=operations, filter_path="errors")
            if response.get("errors"):
                raise SystemExit("bulk errors while storing")
            operations = []
    es.indices.refresh(index=prefix)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--es", default="http://127.0.0.1:19200")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    tag = f"bench{uuid.uuid4().hex[:8]}"
    prefix = f"{tag}-events"
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            es_url=args.es,
            index_prefix=prefix,
            digest_index=f"{tag}-digests",
            digest_key_dir=str(Path(tmp) / "keys"),
            es_request_timeout=120,
        )
        es = Elasticsearch(args.es, request_timeout=300)
        body = load_mapping("audit-events")
        body["index_patterns"] = [f"{prefix}-*"]
        body.setdefault("template", {})["aliases"] = {prefix: {}}
        es.indices.put_index_template(name=prefix, **body)
        result: dict[str, Any] = {"events": args.events}
        try:
            started = time.perf_counter()
            store(es, prefix, args.events)
            result["store_events_per_s"] = round(args.events / (time.perf_counter() - started))
            wiring = build_trail(settings, metrics=PrometheusMetrics())
            started = time.perf_counter()
            outcome = wiring.signer().sign_org(ORG, datetime.now(UTC))
            result["sign_events_per_s"] = round(outcome.events / (time.perf_counter() - started))
            result["digests"] = outcome.digests
            wiring.digests.refresh()
            result["rss_mb_before"] = round(rss_mb(), 1)
            started = time.perf_counter()
            report = wiring.verifier().verify(ORG)
            elapsed = time.perf_counter() - started
            result["verify_events_per_s"] = round(report.events / elapsed)
            result["verify_findings"] = len(report.findings)
            result["rss_mb_after_verify"] = round(rss_mb(), 1)
            request = ExportRequest(
                organization_id=ORG,
                export_format=ExportFormat.NDJSON,
                purpose="benchmark",
                requester="bench",
                redaction=PROFILES["none"],
                out_dir=Path(tmp) / "bundle",
            )
            started = time.perf_counter()
            exported = wiring.exporter().export(request, datetime.now(UTC))
            elapsed = time.perf_counter() - started
            result["export_events_per_s"] = round(exported.manifest.event_count / elapsed)
            result["rss_mb_after_export"] = round(rss_mb(), 1)
            result["bundle_mb"] = round(
                sum(f.stat().st_size for f in (Path(tmp) / "bundle").iterdir()) / 2**20, 1
            )
            wiring.close()
        finally:
            if not args.keep:
                names = list(es.indices.get(index=f"{tag}-*", expand_wildcards="all"))
                if names:
                    es.indices.delete(index=",".join(names))
                es.indices.delete_index_template(name=prefix)
            es.close()
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
