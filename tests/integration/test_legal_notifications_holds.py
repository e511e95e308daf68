"""Notifications that cannot be lost, and holds that follow incidents, on the real node.

The receiver is down, then the scheduler is killed (SIGKILL, by its pid)
while a delivery is recorded and not yet answered; the redrive and the next
run deliver everything, and a receiver that dedups by the idempotency key
processes each notification once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from audit.adapters.webhook import IDEMPOTENCY_HEADER, WebhookNotifier
from audit.wiring.incidents import build_incident_holds

from .incident_support import (  # noqa: F401 - incident_env is a fixture
    IncidentEnv,
    attack_chain,
    incident_env_fixture,
    notifications_cli,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-for-tests"


class DedupReceiver:
    """On a fixed port: answers 500 to the first request of each key (so the sender
    retries and the receiver sees a duplicate), then 200; processes each key once."""

    def __init__(self, port: int) -> None:
        self.requests: list[str] = []
        self.processed: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers[IDEMPOTENCY_HEADER]
                with receiver.lock:
                    first = key not in receiver.requests
                    receiver.requests.append(key)
                    if not first and key not in receiver.processed:
                        receiver.processed.append(key)
                self.send_response(500 if first else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> DedupReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def delivery_log(env: IncidentEnv) -> dict[str, dict[str, Any]]:
    index = env.overrides["notification_index"]
    env.es.indices.refresh(index=index)
    hits = env.es.search(index=index, size=1000, query={"match_all": {}})["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def test_receiver_down_then_scheduler_killed_every_notification_arrives_once(
    incident_env: IncidentEnv,
) -> None:
    port = free_port()
    hook = {
        "webhook_url": f"http://127.0.0.1:{port}/hook",
        "webhook_secret": SECRET,
        "webhook_backoff_seconds": 0.05,
        "webhook_max_attempts": 2,
    }
    # 1. the receiver is down: the opening notifications are recorded, and fail
    wiring = incident_env.wiring(**hook, webhook_timeout_seconds=2)
    now = datetime.now(UTC)
    t0 = now - timedelta(hours=65)
    chain = attack_chain()
    incident_id = wiring.service.handle_detection(chain[0], t0).incident_id
    wiring.service.handle_detection(chain[3], t0)
    assert incident_id is not None
    wiring.service.decide(
        incident_id,
        "personal_data_involved",
        answer="yes",
        rationale="logins",
        by="dpo",
        now=t0 + timedelta(hours=1),
    )
    failed = delivery_log(incident_env)
    assert failed and {e["status"] for e in failed.values()} == {"failed"}

    # 2. the scheduler records an item notification, sends it to a receiver that
    # accepts and never answers, and is killed before it hears back
    hole = socket.socket()
    hole.bind(("127.0.0.1", port))
    hole.listen(16)
    env = {
        **os.environ,
        **incident_env.env(
            webhook_url=hook["webhook_url"],
            webhook_secret=SECRET,
            webhook_timeout_seconds="120",
        ),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "audit.cli.main", "scheduler", "--once"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        pending: list[str] = []
        while time.monotonic() < deadline and not pending:
            time.sleep(0.5)
            pending = [k for k, e in delivery_log(incident_env).items() if e["status"] == "pending"]
        assert pending, "the scheduler recorded no delivery"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        hole.close()
    assert delivery_log(incident_env)[pending[0]]["status"] == "pending"

    # 3. the receiver is back: the redrive (as the scheduler runs it every minute)
    # and the next deadlines run deliver everything
    with DedupReceiver(port) as receiver:
        back = incident_env.wiring(**hook, webhook_timeout_seconds=5)
        notifier = back.notifier
        assert isinstance(notifier, WebhookNotifier)
        redriven = notifier.redrive(datetime.now(UTC), stale_after=timedelta(0))
        assert redriven == {"delivered": len(failed) + 1}
        summary = back.deadline_job().run(now)
        assert summary.notifications.get("delivered", 0) >= 1
        assert notifier.redrive(datetime.now(UTC) + timedelta(minutes=5)) == {}
        log = delivery_log(incident_env)
        assert {e["status"] for e in log.values()} == {"delivered"}
        assert set(failed) | set(pending) <= set(log)
        assert sorted(receiver.processed) == sorted(log)  # each once
        assert len(receiver.requests) == 2 * len(log)  # every one was seen twice
    kinds = sorted(e["kind"] for e in log.values())
    assert "incident.opened" in kinds and "checklist.item_overdue" in kinds


def test_notifications_cli_lists_and_redrives(
    incident_env: IncidentEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    values = incident_env.env(
        webhook_url=f"http://127.0.0.1:{port}/hook",
        webhook_secret=SECRET,
        webhook_backoff_seconds="0.01",
        webhook_max_attempts="1",
        webhook_timeout_seconds="2",
    )
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    wiring = incident_env.wiring(
        webhook_url=values["AUDIT_WEBHOOK_URL"],
        webhook_secret=SECRET,
        webhook_max_attempts=1,
        webhook_timeout_seconds=2,
    )
    wiring.service.handle_detection(attack_chain()[0], datetime.now(UTC))
    cli = notifications_cli

    assert cli("notifications", "list", "--status", "failed") == 0
    (line,) = capsys.readouterr().out.splitlines()
    entry = json.loads(line)
    assert entry["kind"] == "incident.opened" and "payload" not in entry
    with DedupReceiver(port) as receiver:
        assert cli("notifications", "redrive") == 0
        # one attempt per redrive: the receiver answers 500 to a key's first request
        assert json.loads(capsys.readouterr().out) == {"failed": 1}
        assert cli("notifications", "redrive") == 0
        assert json.loads(capsys.readouterr().out) == {"delivered": 1}
        assert receiver.processed == [entry["id"]]
    assert cli("notifications", "list", "--status", "failed") == 0
    assert capsys.readouterr().out == ""


def test_holds_follow_incidents(incident_env: IncidentEnv) -> None:
    tag = incident_env.tag
    settings = incident_env.settings(
        hold_index=f"t{tag}-legal-holds",
        hold_copy_prefix=f"t{tag}-holds",
        org_settings_index=f"t{tag}-org-settings",
    )
    wiring = incident_env.wiring()
    follower = build_incident_holds(settings, wiring)
    now = datetime.now(UTC)
    chain = attack_chain()
    high = wiring.service.handle_detection(chain[1], now).incident_id
    assert high is not None
    assert follower.follow(now) == {"placed": 0, "released": 0}  # high, nothing asked
    wiring.service.decide(
        high, "t0_and_legal_hold", answer="recorded", rationale="evidence", by="dpo", now=now
    )
    critical = wiring.service.handle_detection(attack_chain(org="org_0b1d")[3], now).incident_id
    assert critical is not None
    assert follower.follow(now) == {"placed": 2, "released": 0}
    assert follower.follow(now) == {"placed": 0, "released": 0}  # placed once
    shown = wiring.service.get(critical)
    assert shown.history[-1].why.startswith("legal hold ")
    assert "critical severity" in shown.history[-1].why
    wiring.service.transition(high, "false_positive", by="oncall", note="test", now=now)
    assert follower.follow(now + timedelta(minutes=1)) == {"placed": 0, "released": 1}
    released = wiring.service.get(high).history[-1].why
    assert "released: incident" in released and "false_positive" in released


def test_pagerduty_deadline_alerts_carry_their_own_dedup_key(incident_env: IncidentEnv) -> None:
    from .incident_support import Receiver

    with Receiver(statuses=[503]) as receiver:
        wiring = incident_env.wiring(
            webhook_url=receiver.url,
            webhook_secret=SECRET,
            webhook_format="pagerduty",
            pagerduty_routing_key="R0UTING",
            webhook_backoff_seconds=0.01,
        )
        now = datetime.now(UTC)
        incident_id = wiring.service.handle_detection(
            attack_chain()[3], now - timedelta(hours=30)
        ).incident_id
        opened = len(receiver.requests)
        assert opened == 2  # the 503, then the same trigger again: one dedup_key
        first, again = receiver.bodies()
        assert first == again and first["dedup_key"] == incident_id
        wiring.deadline_job().run(now)
        alerts = receiver.bodies()[opened:]
        overdue = [a for a in alerts if a["payload"]["class"] == "checklist.item_overdue"]
        assert overdue, alerts
        for alert in alerts:
            item = alert["payload"]["custom_details"]["item_id"]
            assert alert["dedup_key"] == f"{incident_id}:{item}"
            assert alert["event_action"] == "trigger"
        assert len({a["dedup_key"] for a in alerts}) == len(alerts)
