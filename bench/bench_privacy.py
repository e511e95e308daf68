"""Data-subject rights: the ingest pipeline with version-2 commitments, and
the time to erase one subject, on the local stack.

    .venv/bin/python bench/bench_privacy.py pipeline [--events 100000] [--rounds 2]
    .venv/bin/python bench/bench_privacy.py erase [--events 1000000] [--share 0.01]

``pipeline`` publishes N events to fresh topics and runs the ingest
consumer three times over them (fresh group and index prefix each): hash
chain off, chain version 1, chain version 2 (AUDIT_PRIVACY_KEK set: an HMAC
commitment per personal field, subject keys in their own index). Reports
events/s and the ratios on/off, to put next to the 0.74-0.79 of v1.

``erase`` stores N version-2 events of one organization (2,000 users; the
subject is the actor of ``share`` of them), then times the erasure of the
subject: find the events, ledger, rewrite, scrub detections/incidents,
destroy the key, sign the record; then ``audit verify`` of the chain.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from audit.adapters.elasticsearch.event_store import load_mapping
from audit.adapters.elasticsearch.versioned import ensure_index
from audit.domain.integrity import ChainHead
from audit.domain.integrity.chain import extend_v2
from audit.settings import load_settings

ORG = "org_bench"
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def pipeline(events: int, rounds: int) -> dict[str, Any]:
    from audit.adapters.kafka.publisher import publish
    from audit.adapters.kafka.topics import ensure_topics
    from audit.replay.mix import mixed_stream
    from audit.replay.traffic import TrafficGenerator, TrafficProfile
    from consumers.ingest import run

    tag = uuid.uuid4().hex[:8]
    os.environ.update(
        {
            "AUDIT_TOPIC_AUTH": f"bench{tag}.auth",
            "AUDIT_TOPIC_SECURITY": f"bench{tag}.security",
            "AUDIT_TOPIC_DLQ": f"bench{tag}.dlq",
            "AUDIT_METRICS_PORT": "0",
        }
    )
    settings = load_settings()
    profile = TrafficProfile.benchmark(datetime.now(UTC))
    stream = mixed_stream(TrafficGenerator(profile), events)
    ensure_topics(
        settings,
        {settings.topic_auth: None, settings.topic_security: None, settings.topic_dlq: None},
    )
    publish(settings, stream.messages)
    kek = base64.b64encode(os.urandom(32)).decode()

    def one(label: str, **overrides: Any) -> float:
        run_settings = load_settings(
            consumer_group=f"bench{tag}-{label}",
            index_prefix=f"bench{tag}-{label}-events",
            subject_key_index=f"bench{tag}-{label}-subject-keys",
            dsr_index=f"bench{tag}-{label}-dsr",
            **overrides,
        )
        idle = 2.0
        t0 = time.perf_counter()
        summary = run(run_settings, until_idle=idle)
        elapsed = time.perf_counter() - t0 - idle
        assert summary.stored == len(stream.unique_event_ids), summary
        return summary.consumed / elapsed

    # Interleaved rounds, best of each: the machine is shared, its load drifts.
    runs: dict[str, list[float]] = {"off": [], "v1": [], "v2": []}
    for n in range(rounds):
        runs["off"].append(one(f"off{n}", integrity_enabled=False))
        runs["v1"].append(one(f"v1{n}", integrity_enabled=True))
        runs["v2"].append(one(f"v2{n}", integrity_enabled=True, privacy_kek=kek))
    off, v1, v2 = (max(runs[k]) for k in ("off", "v1", "v2"))
    es = Elasticsearch(settings.es_url, request_timeout=60)
    names = list(es.indices.get(index=f"bench{tag}-*"))
    if names:
        es.indices.delete(index=",".join(names))
    es.close()
    return {
        "events": events,
        "rounds": rounds,
        "runs_events_per_s": {k: [round(r) for r in v] for k, v in runs.items()},
        "pipeline_integrity_off_events_per_s": round(off),
        "pipeline_chain_v1_events_per_s": round(v1),
        "pipeline_chain_v2_events_per_s": round(v2),
        "ratio_v1_over_off": round(v1 / off, 3),
        "ratio_v2_over_off": round(v2 / off, 3),
    }


def _document(i: int, subject: bool) -> dict[str, Any]:
    user = "usr_subject" if subject else f"usr_{i % 2000}"
    return {
        "@timestamp": (T0 + timedelta(milliseconds=50 * i)).isoformat().replace("+00:00", "Z"),
        "event": {
            "id": f"{ORG}-{i:08d}",
            "action": "user.login",
            "outcome": "failure" if i % 3 else "success",
            "provider": "auth-service",
        },
        "organization": {"id": ORG},
        "user": {"id": user, "name": f"{user}@acme.example"},
        "source": {"ip": f"198.51.{(i // 250) % 250}.{i % 250}", "geo": {"country_iso_code": "FR"}},
        "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64)"},
        "elastra": {"data_category": "authentication_security"},
    }


def erase(events: int, share: float) -> dict[str, Any]:
    from audit.adapters.metrics import PrometheusMetrics
    from audit.services.commitments import Committer
    from audit.wiring.privacy import build_dsr, build_keyring
    from audit.wiring.trail import build_trail

    tag = uuid.uuid4().hex[:8]
    prefix = f"bench{tag}"
    os.environ.update(
        {
            "AUDIT_INDEX_PREFIX": f"{prefix}-events",
            "AUDIT_PRIVACY_KEK": base64.b64encode(os.urandom(32)).decode(),
            "AUDIT_SUBJECT_KEY_INDEX": f"{prefix}-subject-keys",
            "AUDIT_ERASURE_INDEX": f"{prefix}-erasures",
            "AUDIT_DSR_INDEX": f"{prefix}-dsr",
            "AUDIT_DETECTION_INDEX": f"{prefix}-detections",
            "AUDIT_INCIDENT_INDEX": f"{prefix}-incidents",
            "AUDIT_HOLD_INDEX": f"{prefix}-legal-holds",
            "AUDIT_HOLD_COPY_PREFIX": f"{prefix}-holds",
            "AUDIT_DIGEST_INDEX": f"{prefix}-digests",
            "AUDIT_DIGEST_KEY_DIR": f"/tmp/{prefix}-keys",
        }
    )
    settings = load_settings()
    es = Elasticsearch(settings.es_url, request_timeout=300)
    body = load_mapping("audit-events")
    body["index_patterns"] = [f"{prefix}-events-*"]
    body.setdefault("template", {})["aliases"] = {f"{prefix}-events": {}}
    es.indices.put_index_template(name=f"{prefix}-events", **body)
    ensure_index(es, settings.detection_index, "audit-detections")
    ensure_index(es, settings.incident_index, "audit-incidents")
    keyring = build_keyring(settings, es)
    assert keyring is not None
    committer = Committer(keyring)
    every = max(1, round(1 / share))
    head = ChainHead.genesis(ORG)
    t0 = time.perf_counter()
    batch = 5000
    for start in range(0, events, batch):
        docs = [_document(i, i % every == 0) for i in range(start, min(events, start + batch))]
        sealed = committer.commit_batch([(ORG, d) for d in docs])
        operations: list[dict[str, Any]] = []
        for doc, (commitments, keys) in zip(docs, sealed, strict=True):
            fields, head = extend_v2(head, doc, commitments, keys)
            doc["integrity"] = fields.as_dict()
            day = datetime.fromisoformat(doc["@timestamp"])
            index = f"{prefix}-events-standard-{day:%Y.%m.%d}"
            operations.append({"create": {"_index": index, "_id": doc["event"]["id"]}})
            operations.append(doc)
        response = es.bulk(operations=operations, filter_path="errors")
        assert not response.get("errors")
    es.indices.refresh(index=f"{prefix}-events")
    store_s = time.perf_counter() - t0
    subject_events = len(range(0, events, every))

    dsr = build_dsr(settings, es)
    now = datetime.now(UTC)
    request = dsr.new(
        {
            "right": "erasure",
            "law": "gdpr",
            "subject": {"user_id": "usr_subject"},
            "organization_id": ORG,
            "verification": {"method": "bench", "verified_by": "bench"},
        },
        "bench",
        now,
    )
    dsr.decide(request.id, True, "bench", now)
    t0 = time.perf_counter()
    done = dsr.execute(request.id, "bench", now)
    erase_s = time.perf_counter() - t0
    assert done.outcome["erased_events"] == subject_events, done.outcome["erased_events"]

    trail = build_trail(settings, es, PrometheusMetrics())
    t0 = time.perf_counter()
    report = trail.verifier().verify(ORG)
    verify_s = time.perf_counter() - t0
    assert report.ok, report.findings[:3]
    names = list(es.indices.get(index=f"{prefix}-*"))
    if names:
        es.indices.delete(index=",".join(names))
    es.indices.delete_index_template(name=f"{prefix}-events")
    es.close()
    return {
        "events": events,
        "subject_events": subject_events,
        "store_v2_events_per_s": round(events / store_s),
        "erase_one_subject_seconds": round(erase_s, 2),
        "erased_events_per_s": round(subject_events / erase_s),
        "verify_after_erasure_events_per_s": round(events / verify_s),
        "verify_erased_named": report.erased_counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=("pipeline", "erase"))
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.what == "pipeline":
        result = pipeline(args.events or 100_000, args.rounds)
    else:
        result = erase(args.events or 1_000_000, args.share)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
