"""ElastAlert2's time to alert on the same burst, for the comparison table.

    # ElastAlert2 in its own virtualenv (its pins clash with ours):
    python3 -m venv /tmp/ea2 && /tmp/ea2/bin/pip install elastalert2
    .venv/bin/python bench/es_root_proxy.py --listen 127.0.0.1:29299 &
    .venv/bin/python bench/bench_elastalert_latency.py --elastalert /tmp/ea2/bin \\
        --run-every 10 --seconds 120

Writes events straight to a fresh index on the node (through the proxy that
answers ``GET /``): benign failures, and every 10 s a burst of 10 failed
logins for a new user. A ``frequency`` rule equivalent to auth.brute_force
(10 failures per user within 5 minutes) with ``run_every`` as given alerts;
latency is from the index acknowledging the burst's last event (refreshed)
to the ``alert_time`` ElastAlert2 records in its writeback index.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from elasticsearch import Elasticsearch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--elastalert", default="/tmp/ea2/bin")
    parser.add_argument("--proxy-port", type=int, default=29299)
    parser.add_argument("--node", default="http://127.0.0.1:29200")
    parser.add_argument("--run-every", type=int, default=60, metavar="SECONDS")
    parser.add_argument("--seconds", type=int, default=120)
    args = parser.parse_args()
    tag = f"ea2{uuid.uuid4().hex[:8]}"
    work = Path("/tmp") / tag
    (work / "rules").mkdir(parents=True)
    es = Elasticsearch(args.node)
    events = f"{tag}-events"
    es.indices.create(
        index=events,
        mappings={
            "properties": {
                "@timestamp": {"type": "date"},
                "user": {"properties": {"id": {"type": "keyword"}}},
                "event": {
                    "properties": {
                        "action": {"type": "keyword"},
                        "outcome": {"type": "keyword"},
                    }
                },
            }
        },
    )
    (work / "config.yaml").write_text(
        json.dumps(
            {
                "rules_folder": str(work / "rules"),
                "run_every": {"seconds": args.run_every},
                "buffer_time": {"minutes": 15},
                "es_host": "127.0.0.1",
                "es_port": args.proxy_port,
                "writeback_index": f"{tag}-status",
                "alert_time_limit": {"days": 1},
            }
        )
    )
    (work / "rules" / "brute_force.yaml").write_text(
        json.dumps(
            {
                "name": "brute_force",
                "type": "frequency",
                "index": events,
                "num_events": 10,
                "timeframe": {"minutes": 5},
                "query_key": "user.id",
                "filter": [{"term": {"event.outcome": "failure"}}],
                "realert": {"minutes": 0},
                "alert": ["debug"],
            }
        )
    )
    bin_dir = Path(args.elastalert)
    subprocess.run(
        [str(bin_dir / "elastalert-create-index"), "--config", str(work / "config.yaml")],
        check=True,
        capture_output=True,
        cwd=work,
    )
    proc = subprocess.Popen(
        [str(bin_dir / "elastalert"), "--config", str(work / "config.yaml"), "--verbose"],
        cwd=work,
        stdout=open(work / "elastalert.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    acked: dict[str, float] = {}
    started = time.monotonic()
    while time.monotonic() - started < args.seconds:
        user = f"usr_burst_{len(acked)}"
        now = datetime.now(UTC).isoformat()
        operations: list[dict[str, object]] = []
        for i in range(10):
            operations.append({"index": {"_index": events}})
            operations.append(
                {
                    "@timestamp": now,
                    "user": {"id": user},
                    "event": {"action": "user.login", "outcome": "failure"},
                }
            )
            operations.append({"index": {"_index": events}})
            operations.append(
                {
                    "@timestamp": now,
                    "user": {"id": f"usr_benign_{len(acked)}_{i}"},
                    "event": {"action": "user.login", "outcome": "failure"},
                }
            )
        es.bulk(operations=operations, refresh=True)
        acked[user] = time.time()
        time.sleep(10)
    time.sleep(args.run_every + 30)
    proc.terminate()
    proc.wait(timeout=60)
    es.indices.refresh(index=f"{tag}-status*")
    hits = es.search(index=f"{tag}-status*", size=1000, query={"exists": {"field": "alert_time"}})[
        "hits"
    ]["hits"]
    latencies = []
    for hit in hits:
        match = hit["_source"].get("match_body", {})
        user = (match.get("user") or {}).get("id") or match.get("user.id")
        if user in acked:
            alert = datetime.fromisoformat(hit["_source"]["alert_time"].replace("Z", "+00:00"))
            latencies.append(alert.timestamp() - acked[user])
    latencies.sort()
    print(
        json.dumps(
            {
                "run_every_s": args.run_every,
                "bursts": len(acked),
                "alerts": len(latencies),
                "p50_s": round(statistics.median(latencies), 2) if latencies else None,
                "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2)
                if latencies
                else None,
                "log": str(work / "elastalert.log"),
            },
            indent=2,
        )
    )
    names = list(es.indices.get(index=f"{tag}-*"))
    if names:
        es.indices.delete(index=",".join(names))


if __name__ == "__main__":
    main()
