"""Fixtures and helpers of the incident integration tests (real Elasticsearch node).

Also runnable as a module (``python -m tests.integration.incident_support``)
to act as a second writer or scheduler process.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from audit.domain.detection.record import Detection, Severity
from audit.domain.incidents import Incident
from audit.errors import ConflictError
from audit.services.ports.incidents import Version
from audit.settings import Settings, load_settings
from audit.wiring.incidents import IncidentWiring, build_incidents
from tests.es_cleanup import drop_prefixed

from .conftest import RunningStack


def index_overrides(tag: str) -> dict[str, str]:
    return {
        "incident_index": f"t{tag}-incidents",
        "detection_index": f"t{tag}-detections",
        "disclosure_index": f"t{tag}-disclosures",
        "notification_index": f"t{tag}-notifications",
        "lock_index": f"t{tag}-locks",
    }


@dataclass
class IncidentEnv:
    tag: str
    es_url: str
    es: Elasticsearch
    overrides: dict[str, Any]
    wirings: list[IncidentWiring] = field(default_factory=list)

    def settings(self, **extra: Any) -> Settings:
        return load_settings(es_url=self.es_url, **{**self.overrides, **extra})

    def wiring(self, **extra: Any) -> IncidentWiring:
        """The services as the CLI builds them, each with its own client."""
        wiring = build_incidents(self.settings(**extra))
        self.wirings.append(wiring)
        return wiring

    def env(self, **extra: str) -> dict[str, str]:
        """The same settings as environment variables, for a child process."""
        values = {"es_url": self.es_url, **self.overrides, **extra}
        return {f"AUDIT_{k.upper()}": str(v) for k, v in values.items()}


@pytest.fixture(name="incident_env")
def incident_env_fixture(stack: RunningStack) -> Iterator[IncidentEnv]:
    tag = uuid.uuid4().hex[:10]
    es = Elasticsearch(stack.es_url, request_timeout=30)
    env = IncidentEnv(tag, stack.es_url, es, dict(index_overrides(tag)))
    try:
        yield env
    finally:
        for wiring in env.wirings:
            wiring.close()
        drop_prefixed(es, f"t{tag}")
        es.close()


T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def detection(
    det_id: str,
    severity: str,
    *,
    rule: str,
    at: datetime,
    orgs: tuple[str, ...] = ("org_7f3a",),
    entities: dict[str, list[str]] | None = None,
    categories: tuple[str, ...] = ("authentication_security",),
    affected: tuple[str, ...] = (),
    count: int = 5,
    minutes: int = 5,
) -> Detection:
    """A detection record as the rule engine writes it."""
    return Detection(
        id=det_id,
        rule_id=rule,
        rule_name=rule.replace(".", " ").title(),
        severity=Severity(severity),
        group_key={"source.ip": det_id},
        organization_ids=list(orgs),
        affected_organization_ids=list(affected),
        first_seen=at,
        last_seen=at + timedelta(minutes=minutes),
        event_count=count,
        event_ids=[f"{det_id}-e{i}" for i in range(min(count, 100))],
        data_categories=list(categories),
        entities=entities or {},
        window_start=at,
        detected_at=at + timedelta(minutes=minutes, seconds=2),
    )


IP = "198.51.100.23"


def attack_chain(start: datetime = T0, org: str = "org_7f3a") -> list[Detection]:
    """Spraying, then a success, then a privilege grant, then an export."""
    return [
        detection(
            "det-spray",
            "medium",
            rule="auth.password_spraying",
            at=start,
            orgs=(org,),
            entities={"source.ip": [IP], "user.id": ["usr_1", "usr_2", "usr_3"]},
            count=30,
        ),
        detection(
            "det-success",
            "high",
            rule="auth.brute_force_success",
            at=start + timedelta(minutes=25),
            orgs=(org,),
            entities={"source.ip": [IP], "user.id": ["usr_2"], "elastra.session.id": ["ses_9"]},
        ),
        detection(
            "det-grant",
            "high",
            rule="iam.privilege_escalation",
            at=start + timedelta(hours=2),
            orgs=(org,),
            entities={"user.id": ["usr_2"], "user.target.id": ["usr_2"]},
            categories=("account",),
            count=1,
        ),
        detection(
            "det-export",
            "critical",
            rule="data.mass_export",
            at=start + timedelta(hours=4),
            orgs=(org,),
            entities={"user.id": ["usr_2"], "elastra.session.id": ["ses_10"]},
            categories=("customer_content",),
            count=40,
        ),
    ]


# --- a local webhook receiver --------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """http.server on 127.0.0.1 in a thread; answers the scripted statuses, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(Received(dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r.body) for r in self.requests]


def notifications_cli(*argv: str) -> int:
    """``audit notifications ...`` in this process (settings from the environment)."""
    from audit.cli import notifications

    parser = argparse.ArgumentParser()
    notifications.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    status: int = args.handler(args)
    return status


# --- child processes ------------------------------------------------------------


def _writer(args: argparse.Namespace) -> int:
    """Comment ``count`` times on one incident, starting at ``start`` (epoch seconds)."""
    wiring = build_incidents(load_settings())
    service = wiring.service
    conflicts = 0
    replace = wiring.store.replace

    def counting_replace(incident: Incident, version: Version) -> None:
        nonlocal conflicts
        try:
            replace(incident, version)
        except ConflictError:
            conflicts += 1
            raise

    wiring.store.replace = counting_replace  # type: ignore[method-assign]
    time.sleep(max(0.0, args.start - time.time()))
    for i in range(args.count):
        now = datetime.now(UTC)
        if i == args.count // 2 and args.status:
            service.transition(args.incident, args.status, by=args.name, note="moving on", now=now)
        if i == args.count // 2 and args.assign:
            service.assign(args.incident, args.assign, by=args.name, now=now)
        service.comment(args.incident, f"{args.name}-{i}", by=args.name, now=now)
    wiring.close()
    print(json.dumps({"writer": args.name, "conflicts": conflicts}))
    return 0


def _scheduler_once(args: argparse.Namespace) -> int:
    from audit.cli import scheduler

    parser = argparse.ArgumentParser()
    scheduler.register(parser.add_subparsers(dest="command"))
    parsed = parser.parse_args(["scheduler", "--once"])
    time.sleep(max(0.0, args.start - time.time()))
    status: int = parsed.handler(parsed)
    return status


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    writer = sub.add_parser("writer")
    writer.add_argument("--incident", required=True)
    writer.add_argument("--name", required=True)
    writer.add_argument("--count", type=int, default=20)
    writer.add_argument("--status")
    writer.add_argument("--assign")
    writer.add_argument("--start", type=float, default=0.0)
    writer.set_defaults(run=_writer)
    scheduler = sub.add_parser("scheduler-once")
    scheduler.add_argument("--start", type=float, default=0.0)
    scheduler.set_defaults(run=_scheduler_once)
    args = parser.parse_args()
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
