"""Lawful-request deadlines on legal's own webhook, against local receivers and
the real node: signed, once per item and deadline, redriven after a failure,
and never on on-call's receiver."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from audit.domain.notifications import SIGNATURE_HEADER, verify_signature
from audit.errors import ConfigurationError
from audit.services.disclosures import RequestFile
from audit.services.request_deadlines import LEGAL_DEADLINES_JOB
from audit.wiring.incidents import (
    LEGAL_NOTIFICATIONS_JOB,
    build_disclosures,
    build_legal_notifier,
    legal_scheduler_jobs,
)
from tests.unit.disclosure.specs import request_file

from .incident_support import (  # noqa: F401 - incident_env is a fixture
    IncidentEnv,
    Receiver,
    incident_env_fixture,
    notifications_cli,
)

pytestmark = pytest.mark.integration

ONCALL_SECRET = "on-call-secret"
LEGAL_SECRET = "legal-secret"
R0 = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def _settings(env: IncidentEnv, oncall: Receiver, legal: Receiver, tmp: Path) -> dict[str, Any]:
    return {
        "webhook_url": oncall.url,
        "webhook_secret": ONCALL_SECRET,
        "legal_webhook_url": legal.url,
        "legal_webhook_secret": LEGAL_SECRET,
        "legal_notification_index": f"t{env.tag}-legal-notifications",
        "hold_index": f"t{env.tag}-legal-holds",
        "hold_copy_prefix": f"t{env.tag}-holds",
        "org_settings_index": f"t{env.tag}-org-settings",
        "api_export_dir": str(tmp),
        "webhook_backoff_seconds": 0.05,
        "webhook_max_attempts": 2,
    }


def _jobs(env: IncidentEnv, extra: dict[str, Any]) -> tuple[Callable[[datetime], None], Any]:
    """The scheduler's legal jobs as the scheduler builds them, run at a given time;
    and the disclosure service over the same indices."""
    wiring = env.wiring(**extra)
    settings = env.settings(**extra)
    clock: list[datetime] = []
    jobs = legal_scheduler_jobs(settings, wiring, lambda _job, work: work(clock[-1]))

    def run_at(now: datetime, *names: str) -> None:
        clock.append(now)
        for name in names:
            jobs[name]()

    return run_at, build_disclosures(settings, wiring.client)


def _subpoena(ref: str, due: datetime) -> RequestFile:
    return request_file(
        ref,
        "subpoena",
        R0,
        due,
        organization_ids=("org_secretive",),
        requested_data="login records of usr_whistleblower",
    )


def _log(env: IncidentEnv, index: str) -> list[dict[str, Any]]:
    if not env.es.indices.exists(index=index):
        return []
    env.es.indices.refresh(index=index)
    hits = env.es.search(index=index, size=100, query={"match_all": {}})["hits"]["hits"]
    return [h["_source"] for h in hits]


def test_legal_hears_of_a_return_date_once_and_on_call_never(
    incident_env: IncidentEnv, tmp_path: Path
) -> None:
    with Receiver() as oncall, Receiver() as legal:
        extra = _settings(incident_env, oncall, legal, tmp_path)
        run_at, disclosures = _jobs(incident_env, extra)
        request, _ = disclosures.record(_subpoena("SUB-9", R0 + 2 * D), R0)

        run_at(R0 + D, LEGAL_DEADLINES_JOB)  # not due yet
        run_at(R0 + 2 * D - 6 * H, LEGAL_DEADLINES_JOB)  # due soon
        run_at(R0 + 2 * D - 5 * H, LEGAL_DEADLINES_JOB)  # the same state again
        run_at(R0 + 2 * D + H, LEGAL_DEADLINES_JOB)  # overdue

        assert oncall.requests == []
        assert [(b["kind"], b["lawful_request"]["id"]) for b in legal.bodies()] == [
            ("lawful_request.item_due_soon", request.id),
            ("lawful_request.item_overdue", request.id),
        ]
        for received in legal.requests:
            signature = received.headers[SIGNATURE_HEADER]
            assert verify_signature(received.body, LEGAL_SECRET, signature)
            assert not verify_signature(received.body, ONCALL_SECRET, signature)
            for secret in (b"Sheriff", b"org_secretive", b"usr_whistleblower", b"SUB-9"):
                assert secret not in received.body
        entries = _log(incident_env, extra["legal_notification_index"])
        assert sorted((e["request_id"], e["item_id"], e["status"]) for e in entries) == [
            (request.id, "respond_by", "delivered"),
            (request.id, "respond_by", "delivered"),
        ]
        assert _log(incident_env, incident_env.overrides["notification_index"]) == []


def test_a_failed_delivery_is_redriven_to_legal(
    incident_env: IncidentEnv,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Receiver() as oncall, Receiver(statuses=[503, 503]) as legal:
        extra = _settings(incident_env, oncall, legal, tmp_path)
        run_at, disclosures = _jobs(incident_env, extra)
        request, _ = disclosures.record(_subpoena("SUB-10", R0 + D), R0)

        run_at(R0 + D + H, LEGAL_DEADLINES_JOB)  # overdue; both attempts answered 503
        (entry,) = _log(incident_env, extra["legal_notification_index"])
        assert (entry["request_id"], entry["status"]) == (request.id, "failed")
        for key, value in incident_env.env(**extra).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        assert (
            notifications_cli("notifications", "list", "--channel", "legal", "--status", "failed")
            == 0
        )
        (line,) = capsys.readouterr().out.splitlines()
        listed = json.loads(line)
        assert (listed["request_id"], listed["kind"]) == (request.id, "lawful_request.item_overdue")
        assert (
            notifications_cli("notifications", "list", "--status", "failed") == 0
        )  # on-call's: none
        assert capsys.readouterr().out == ""

        run_at(R0 + D + 2 * H, LEGAL_NOTIFICATIONS_JOB, LEGAL_DEADLINES_JOB)

        bodies = legal.bodies()
        assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]
        (entry,) = _log(incident_env, extra["legal_notification_index"])
        assert entry["status"] == "delivered"
        assert oncall.requests == []


def test_legal_receiver_must_not_be_on_calls(incident_env: IncidentEnv, tmp_path: Path) -> None:
    with Receiver() as oncall:
        extra = _settings(incident_env, oncall, oncall, tmp_path)
        wiring = incident_env.wiring(**{**extra, "legal_webhook_url": None})
        with pytest.raises(ConfigurationError, match="receiver of its own"):
            build_legal_notifier(incident_env.settings(**extra), wiring.client, wiring.metrics)
