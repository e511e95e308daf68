"""Alert storm: 1,000 group keys firing in the same second, on the local node.

    AUDIT_ES_URL=http://127.0.0.1:29200 .venv/bin/python bench/bench_detection_storm.py

10 failed logins for each of --keys users in one second (auth.brute_force:
one detection per user) go through the detector's task (fire on arrival),
then the detections are stored and handed to the incident service, both
ways in the same run on fresh indices:

- batched (what the detector does): one bulk write, ``handle_detections``;
- one by one (the baseline): ``put`` and ``handle_detection`` per detection.

Prints the seconds from the first event to the last incident written, the
detections and incidents stored, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

from audit.adapters.bundled_data import load_rule_dir
from audit.domain.detection import Router
from audit.domain.detection.record import Detection
from audit.domain.event import normalize_document
from audit.services.detection import DetectionTask
from audit.settings import load_settings
from audit.wiring.incidents import build_incidents


def _events(keys: int, start: datetime) -> list:
    out = []
    for user in range(keys):
        for i in range(10):
            when = start + timedelta(microseconds=(user * 10 + i) * 90)  # all within one second
            doc = {
                "@timestamp": when.isoformat().replace("+00:00", "Z"),
                "event": {
                    "id": str(uuid.uuid4()),
                    "action": "user.login",
                    "outcome": "failure",
                    "reason": "bad_password",
                    "provider": "auth-service",
                },
                "organization": {"id": f"org_storm_{user % 50}"},
                "user": {"id": f"usr_storm_{user}"},
                "source": {"ip": f"10.9.{user // 250}.{user % 250}"},
            }
            out.append(normalize_document(doc, received_at=when))
    return out


def _detect(events: list) -> list[Detection]:
    rules = [r for r in load_rule_dir() if r.id == "auth.brute_force"]
    router = Router(rules)
    task = DetectionTask(0, rules, lateness=timedelta(seconds=120), expected_sources=["s:0"])
    # As the detector's turn: every record fed, the detections taken once.
    for event in events:
        for routed in router.route(event):
            task.feed_event(routed)
    return task.take_detections()


def _run(keys: int, batched: bool) -> tuple[float, int, int]:
    tag = f"storm{uuid.uuid4().hex[:8]}"
    os.environ.update(
        {
            "AUDIT_DETECTION_INDEX": f"{tag}-detections",
            "AUDIT_INCIDENT_INDEX": f"{tag}-incidents",
            "AUDIT_NOTIFICATION_INDEX": f"{tag}-notifications",
        }
    )
    settings = load_settings()
    wiring = build_incidents(settings)
    events = _events(keys, datetime.now(UTC))
    started = time.perf_counter()
    now = datetime.now(UTC)
    detections = [d.model_copy(update={"detected_at": now}) for d in _detect(events)]
    if batched:
        wiring.detections.put_many(detections)
        wiring.service.handle_detections(detections, now)
    else:
        for detection in detections:
            wiring.detections.put(detection)
            wiring.service.handle_detection(detection, now)
    elapsed = time.perf_counter() - started
    wiring.detections.refresh()
    stored = len(wiring.detections.list())
    incidents = len(wiring.service.list())
    client = wiring.client
    client.indices.delete(index=",".join(client.indices.get(index=f"{tag}-*")))
    wiring.close()
    return elapsed, stored, incidents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1000)
    args = parser.parse_args()
    batched = _run(args.keys, batched=True)
    single = _run(args.keys, batched=False)
    for label, (elapsed, stored, incidents) in (("batched", batched), ("one by one", single)):
        print(
            f"{label:<11} {elapsed:7.2f} s from first event to last incident written; "
            f"{stored} detections, {incidents} incidents"
        )
    print(f"ratio one-by-one / batched: {single[0] / batched[0]:.1f}x")


if __name__ == "__main__":
    main()
