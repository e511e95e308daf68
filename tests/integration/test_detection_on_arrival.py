"""Alerts on arrival, the late lane and the horizon, on the real broker and node.

The consumer and the detector run as in production (``audit consume``,
``audit detect``) with the default allowed lateness of 120 s, unless a test
says otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from audit.adapters.kafka.publisher import publish
from tests.integration.conftest import ROOT, Isolated, spawn_command, spawn_consumer
from tests.integration.helpers import wait_until
from tests.integration.test_detection_pipeline import _detections, _login_failure

pytestmark = pytest.mark.integration

LATENESS = 120.0  # the default


def _with(isolated: Isolated, **env: str) -> Isolated:
    return Isolated(isolated.settings, {**isolated.env, **env}, isolated.es)


@contextmanager
def _running(isolated: Isolated, tmp_path: Path, name: str) -> Iterator[None]:
    ingest = spawn_consumer(isolated, log=tmp_path / f"{name}-ingest.log")
    detector = spawn_command(isolated, "detect", log=tmp_path / f"{name}-detect.log")
    try:
        yield
    finally:
        for proc in (ingest, detector):
            proc.send_signal(signal.SIGTERM)
        for proc in (ingest, detector):
            proc.wait(timeout=60)


def _benign(isolated: Isolated, at: datetime, count: int = 30) -> None:
    publish(
        isolated.settings,
        [
            _login_failure(f"org_b{i % 5}", f"usr_b{i}", f"192.0.2.{i}", at)
            for i in range(count)  # one failure per user: nothing to detect
        ],
    )


def _burst(isolated: Isolated, user: str, at: datetime, count: int = 12) -> datetime:
    messages = [
        _login_failure("org_bf", user, "198.51.100.7", at + timedelta(milliseconds=200 * i))
        for i in range(count)
    ]
    publish(isolated.settings, messages)  # returns once the broker acknowledged them
    return datetime.now(UTC)


def _one(isolated: Isolated, user: str) -> dict[str, Any]:
    found = [
        d for d in _detections(isolated, "auth.brute_force") if d["group_key"]["user.id"] == user
    ]
    assert len(found) == 1, found
    return found[0]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


#: The issue's bound (issue 12): from the broker's ack of a burst's last event
#: to the detection's ``detected_at``. Measured on the shared 2-core test
#: machine: see BENCHMARKS.md ("Detection on arrival").
ON_ARRIVAL_BOUND = timedelta(seconds=5)


@contextmanager
def _benign_traffic(isolated: Isolated) -> Iterator[None]:
    """A live system's background: benign events at event time = now, a few
    every quarter second, until the block ends."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            _benign(isolated, datetime.now(UTC), count=10)
            stop.wait(0.25)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def test_live_burst_is_detected_within_seconds_of_the_brokers_ack(
    detecting: Isolated, tmp_path: Path
) -> None:
    """Default settings (120 s lateness), the consumer and the detector
    running with benign traffic at event time = now: a brute-force burst is
    detected within 5 s of the broker's ack of its last event. Before issue
    12 it came out once the watermark passed it, 120 s later.

    A first burst is awaited before the measured one: the bound is for a
    live system, not for the processes' start (joining their groups,
    creating the day's index, learning the organization's chain head)."""
    isolated = _with(detecting, AUDIT_DETECTION_LATENESS_SECONDS=str(LATENESS))
    _benign(isolated, datetime.now(UTC))  # creates the topics before the processes start
    with _running(isolated, tmp_path, "live"), _benign_traffic(isolated):
        _burst(isolated, "usr_warm", datetime.now(UTC) - timedelta(seconds=3))
        wait_until(lambda: _users_detected(isolated) >= {"usr_warm"}, 90, "the first burst")
        time.sleep(2)
        acked = _burst(isolated, "usr_live", datetime.now(UTC) - timedelta(seconds=3))
        wait_until(lambda: "usr_live" in _users_detected(isolated), 90, "the live detection")
        found = _one(isolated, "usr_live")
    detected_at = _time(found["detected_at"])
    print(f"broker ack -> detected_at: {(detected_at - acked).total_seconds():.3f} s")
    assert found["event_count"] == 12
    assert detected_at - acked <= ON_ARRIVAL_BOUND
    assert detected_at < _time(found["last_seen"]) + timedelta(seconds=LATENESS / 2)


def _users_detected(isolated: Isolated) -> set[str]:
    return {d["group_key"]["user.id"] for d in _detections(isolated, "auth.brute_force")}


def test_a_burst_thirty_minutes_old_is_detected_with_its_old_first_seen(
    detecting: Isolated, tmp_path: Path
) -> None:
    isolated = _with(detecting, AUDIT_DETECTION_LATENESS_SECONDS=str(LATENESS))
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    _benign(isolated, datetime.now(UTC))
    with _running(isolated, tmp_path, "old"):
        # the live traffic has moved the watermark near the present first
        wait_until(lambda: _stored_some(isolated), 60, "the live traffic stored")
        _burst(isolated, "usr_old", old)
        wait_until(lambda: _detections(isolated, "auth.brute_force"), 90, "the old burst detected")
        found = _one(isolated, "usr_old")
    assert _time(found["first_seen"]) == old
    assert found["event_count"] == 12


def _stored_some(isolated: Isolated) -> bool:
    from tests.integration.helpers import stored_count

    return stored_count(isolated.es, isolated.settings) >= 30


def test_events_past_the_horizon_are_counted_listed_and_nothing_else_changes(
    detecting: Isolated, tmp_path: Path
) -> None:
    isolated = _with(
        detecting,
        AUDIT_DETECTION_LATENESS_SECONDS=str(LATENESS),
        AUDIT_DETECTION_LATE_HORIZON_SECONDS="600",
    )
    now = datetime.now(UTC)
    _benign(isolated, now)
    with _running(isolated, tmp_path, "horizon"):
        wait_until(lambda: _stored_some(isolated), 60, "the live traffic stored")
        # The idle ingest consumer sends a progress marker every second; the
        # detector's watermark is the present once a lone 30-minute-old
        # probe (another organization, nothing to detect) is judged too late.
        # Waiting for that, not for a fixed time, keeps a loaded machine
        # (slow process start, slow group join) from flaking this test.
        probes: set[str] = set()

        def probe_judged_too_late() -> bool:
            probe = _login_failure(
                "org_probe", f"usr_probe{len(probes)}", "203.0.113.9", now - timedelta(minutes=30)
            )
            publish(isolated.settings, [probe])
            probes.add(str(probe.event_id))
            return any(item["event_id"] in probes for item in _late(isolated))

        wait_until(probe_judged_too_late, 90, "a 30-minute-old probe judged too late", interval=2)
        # past the horizon: 120 s lateness + 600 s horizon < 30 min
        _burst(isolated, "usr_too_old", now - timedelta(minutes=30))
        _burst(isolated, "usr_live2", datetime.now(UTC))
        wait_until(lambda: _detections(isolated, "auth.brute_force"), 90, "the live detection")
        wait_until(lambda: len(_late_of(isolated, probes)) >= 12, 60, "the too-late events listed")
    (found,) = _detections(isolated, "auth.brute_force")
    assert found["group_key"]["user.id"] == "usr_live2"
    late = _late_of(isolated, probes)
    # each old failure, once per rule it was routed to (brute force: 12)
    assert len(late) == 12
    assert len({item["event_id"] for item in late}) == 12
    assert all("late horizon" in item["reason"] for item in _late(isolated))
    log = (tmp_path / "horizon-detect.log").read_text()
    assert "Traceback" not in log


def _late_of(
    isolated: Isolated, probes: set[str], rule_id: str = "auth.brute_force"
) -> list[dict[str, Any]]:
    """Too-late items of the rule, the probes left out."""
    return [
        item
        for item in _late(isolated)
        if item["rule_id"] == rule_id and item["event_id"] not in probes
    ]


def _late(isolated: Isolated) -> list[dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "audit.cli.main", "detections", "late", "--json"],
        env={**os.environ, **isolated.env},
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_sigkill_right_after_an_on_arrival_fire_leaves_exactly_one_detection(
    detecting: Isolated, tmp_path: Path
) -> None:
    """The detector is killed the moment its detection is visible, then a
    detector of a new group re-reads every routed record from the start
    (a superset of losing the last commit) and restores the same changelog:
    still one detection, with the burst's events."""
    isolated = _with(detecting, AUDIT_DETECTION_LATENESS_SECONDS=str(LATENESS))
    ingest = spawn_consumer(isolated, "--until-idle", "10", log=tmp_path / "i.log")
    detector = spawn_command(isolated, "detect", log=tmp_path / "d1.log")
    try:
        _burst(isolated, "usr_kill", datetime.now(UTC))
        wait_until(lambda: _detections(isolated, "auth.brute_force"), 90, "the detection")
    finally:
        detector.send_signal(signal.SIGKILL)
        detector.wait(timeout=30)
    assert ingest.wait(timeout=120) == 0
    again = _with(isolated, AUDIT_DETECTOR_GROUP=isolated.env["AUDIT_DETECTOR_GROUP"] + "-again")
    rerun = spawn_command(again, "detect", "--until-idle", "15", log=tmp_path / "d2.log")
    assert rerun.wait(timeout=180) == 0
    found = _one(isolated, "usr_kill")
    assert found["event_count"] == 12
    assert len(set(found["event_ids"])) == 12
