"""Building the incident and disclosure services from settings (for the CLI commands)."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson
from elasticsearch import Elasticsearch

from audit.adapters.bundled_data import load_attributes, load_checklist_template
from audit.adapters.elasticsearch.client import build_client
from audit.adapters.elasticsearch.detection_store import ElasticsearchDetectionStore
from audit.adapters.elasticsearch.disclosure_store import ElasticsearchDisclosureStore
from audit.adapters.elasticsearch.incident_store import ElasticsearchIncidentStore
from audit.adapters.elasticsearch.lease_store import ElasticsearchLease
from audit.adapters.metrics import PrometheusMetrics
from audit.adapters.webhook import DisabledNotifier, WebhookConfig, WebhookNotifier
from audit.domain.checklists import ChecklistTemplate
from audit.errors import ConfigurationError
from audit.services.deadlines import DeadlineJob
from audit.services.disclosures import DisclosureService, parse_principals
from audit.services.holds import SYSTEM_ACTOR, IncidentHoldFollower
from audit.services.incidents import IncidentService
from audit.services.ports.incidents import Notifier, RequestNotifier
from audit.services.ports.ingest import MetricsRecorder
from audit.services.request_deadlines import LEGAL_DEADLINES_JOB, RequestDeadlineJob
from audit.settings import Settings

LAWFUL_REQUEST_TEMPLATE = "lawful_request.v1"


@functools.cache
def template(name: str) -> ChecklistTemplate:
    """A bundled checklist template, parsed once per process."""
    return load_checklist_template(name)


def _webhook_config(
    settings: Settings,
    url: str,
    secret: str,
    format: Literal["json", "pagerduty"] = "json",
    routing_key: str | None = None,
) -> WebhookConfig:
    """A receiver's config with the timeout and retries both channels share."""
    return WebhookConfig(
        url=url,
        secret=secret,
        format=format,
        routing_key=routing_key,
        timeout_seconds=settings.webhook_timeout_seconds,
        max_attempts=settings.webhook_max_attempts,
        backoff_seconds=settings.webhook_backoff_seconds,
    )


def build_notifier(settings: Settings, client: Elasticsearch, metrics: MetricsRecorder) -> Notifier:
    """The webhook notifier, or a disabled one while ``AUDIT_WEBHOOK_URL`` is unset."""
    if not settings.webhook_url:
        return DisabledNotifier()
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    routing = settings.pagerduty_routing_key
    config = _webhook_config(
        settings,
        settings.webhook_url,
        secret,
        format=settings.webhook_format,
        routing_key=routing.get_secret_value() if routing else None,
    )
    notifier = WebhookNotifier(config, client, settings.notification_index, metrics)
    notifier.ensure_index()
    return notifier


def build_legal_notifier(
    settings: Settings, client: Elasticsearch, metrics: MetricsRecorder
) -> RequestNotifier:
    """Legal's webhook notifier (lawful-request deadlines, its own delivery log), or
    a disabled one while ``AUDIT_LEGAL_WEBHOOK_URL`` is unset."""
    if not settings.legal_webhook_url:
        return DisabledNotifier()
    if settings.legal_webhook_url == settings.webhook_url:
        raise ConfigurationError(
            "AUDIT_LEGAL_WEBHOOK_URL is on-call's AUDIT_WEBHOOK_URL: lawful requests may be "
            "under a non-disclosure order; give legal a receiver of its own"
        )
    if not settings.legal_webhook_secret:
        raise ConfigurationError(
            "AUDIT_LEGAL_WEBHOOK_URL is set: set AUDIT_LEGAL_WEBHOOK_SECRET too"
        )
    config = _webhook_config(
        settings, settings.legal_webhook_url, settings.legal_webhook_secret.get_secret_value()
    )
    notifier = WebhookNotifier(config, client, settings.legal_notification_index, metrics)
    notifier.ensure_index()
    return notifier


@dataclass
class IncidentWiring:
    client: Elasticsearch
    store: ElasticsearchIncidentStore
    detections: ElasticsearchDetectionStore
    notifier: Notifier
    metrics: PrometheusMetrics
    service: IncidentService

    def deadline_job(self) -> DeadlineJob:
        return DeadlineJob(self.service, self.store, self.notifier, self.metrics)

    def lease(self, settings: Settings) -> ElasticsearchLease:
        lease = ElasticsearchLease(
            self.client, settings.lock_index, timedelta(seconds=settings.scheduler_lease_seconds)
        )
        lease.ensure_index()
        return lease

    def close(self) -> None:
        self.client.close()


def build_incidents(settings: Settings, client: Elasticsearch | None = None) -> IncidentWiring:
    client = client or build_client(settings)
    metrics = PrometheusMetrics()
    store = ElasticsearchIncidentStore(client, settings.incident_index)
    store.ensure_index()
    detections = ElasticsearchDetectionStore(client, settings.detection_index)
    detections.ensure_index()
    notifier = build_notifier(settings, client, metrics)
    service = IncidentService(
        store,
        detections,
        notifier,
        load_attributes(settings.organizations_file),
        template,
        max_attempts=settings.update_max_attempts,
    )
    return IncidentWiring(client, store, detections, notifier, metrics, service)


@contextmanager
def open_detections(settings: Settings) -> Iterator[ElasticsearchDetectionStore]:
    """The stored detections over a client of their own, closed on exit (read only)."""
    client = build_client(settings)
    try:
        yield ElasticsearchDetectionStore(client, settings.detection_index)
    finally:
        client.close()


def build_disclosures(settings: Settings, client: Elasticsearch) -> DisclosureService:
    """The disclosure service with its holds (retention wiring) and, for production, the
    signed export (trail wiring; keys are read when a production runs, not here)."""
    from audit.wiring.retention import build_retention
    from audit.wiring.trail import build_trail

    store = ElasticsearchDisclosureStore(client, settings.disclosure_index)
    store.ensure_index()
    metrics = PrometheusMetrics()
    holds = build_retention(settings, client, metrics).holds
    trail = build_trail(settings, client, metrics)
    return DisclosureService(
        store,
        template(LAWFUL_REQUEST_TEMPLATE),
        load_attributes(settings.organizations_file),
        parse_principals(settings.legal_principals),
        max_attempts=settings.update_max_attempts,
        holds=holds,
        exporter=trail.exporter,
        bundle_dir=Path(settings.api_export_dir) / "disclosures",
    )


NOTIFICATIONS_JOB = "notifications"
LEGAL_NOTIFICATIONS_JOB = "legal_notifications"
LEGAL_HOLDS_JOB = "legal_holds"


def build_incident_holds(settings: Settings, wiring: IncidentWiring) -> IncidentHoldFollower:
    """Holds follow incidents: critical ones and those whose checklist asks for one."""
    from audit.wiring.retention import build_retention

    retention = build_retention(settings, wiring.client, wiring.metrics)

    def record(incident_id: str, text: str, now: datetime) -> object:
        return wiring.service.comment(incident_id, text, by=SYSTEM_ACTOR, now=now)

    return IncidentHoldFollower(wiring.store, retention.holds, retention.hold_store, record)


def delivery_log(wiring: IncidentWiring) -> WebhookNotifier | None:
    """The webhook notifier with its delivery log, or None while no webhook is configured."""
    return wiring.notifier if isinstance(wiring.notifier, WebhookNotifier) else None


def legal_delivery_log(settings: Settings, wiring: IncidentWiring) -> WebhookNotifier | None:
    """Legal's webhook notifier with its delivery log, or None while no legal webhook is
    configured."""
    notifier = build_legal_notifier(settings, wiring.client, wiring.metrics)
    return notifier if isinstance(notifier, WebhookNotifier) else None


@contextmanager
def open_disclosures(settings: Settings) -> Iterator[DisclosureService]:
    """The disclosure service over a client of its own, closed on exit."""
    client = build_client(settings)
    try:
        yield build_disclosures(settings, client)
    finally:
        client.close()


def legal_scheduler_jobs(
    settings: Settings,
    wiring: IncidentWiring,
    run: Callable[[str, Callable[[datetime], object]], str],
) -> dict[str, Callable[[], object]]:
    """The scheduler's legal jobs, each under the lease, every minute:

    - ``notifications``: redrive webhook deliveries recorded and not delivered
      (receiver down, or the process died between recording and sending);
    - ``legal_holds``: holds follow incidents, and lapsed preservations of lawful
      requests release their holds (recorded in the request's history);
    - ``legal_deadlines``: the deadlines of open lawful requests, counted and
      notified to legal's webhook (:mod:`audit.services.request_deadlines`);
    - ``legal_notifications``: the redrive of legal's deliveries.
    """
    jobs: dict[str, Callable[[], object]] = {}
    notifier = wiring.notifier
    if isinstance(notifier, WebhookNotifier):
        webhook = notifier
        jobs[NOTIFICATIONS_JOB] = lambda: run(NOTIFICATIONS_JOB, webhook.redrive)
    follower = build_incident_holds(settings, wiring)
    disclosures = build_disclosures(settings, wiring.client)
    legal = build_legal_notifier(settings, wiring.client, wiring.metrics)
    deadlines = RequestDeadlineJob(disclosures, legal, wiring.metrics)
    jobs[LEGAL_DEADLINES_JOB] = lambda: run(LEGAL_DEADLINES_JOB, deadlines.run)
    if isinstance(legal, WebhookNotifier):
        legal_webhook = legal
        jobs[LEGAL_NOTIFICATIONS_JOB] = lambda: run(LEGAL_NOTIFICATIONS_JOB, legal_webhook.redrive)

    def holds(now: datetime) -> None:
        follower.follow(now)
        disclosures.expire_preservations(now)

    jobs[LEGAL_HOLDS_JOB] = lambda: run(LEGAL_HOLDS_JOB, holds)
    return jobs


def aware_time(text: str) -> datetime:
    """An argparse type: an ISO 8601 time with a zone."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +00:00)")
    return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def print_json(value: Any, *, pretty: bool = False) -> None:
    option = orjson.OPT_INDENT_2 if pretty else 0
    sys.stdout.buffer.write(orjson.dumps(value, option=option) + b"\n")
    sys.stdout.buffer.flush()
