"""Webhook notifications over HTTP (stdlib ``urllib``), at least once per event.

Implements :class:`audit.services.ports.incidents.Notifier`. For each event:

1. build the body with :func:`audit.domain.notifications.build_webhook_body`;
   its ``id`` is stable for the event and is the idempotency key;
2. create the delivery-log document under that id (``op_type=create``),
   status ``pending``, with the exact bytes to send, *before* sending: if it
   exists, the event is recorded already and is not sent again from here;
3. POST the body (or a PagerDuty Events v2 event, whose ``dedup_key`` is the
   incident id) with the HMAC-SHA256 signature and the key in
   ``X-Elastra-Notification-Id`` and ``Idempotency-Key``, retrying 5xx, 429 and
   timeouts with exponential backoff;
4. record attempts and outcome: ``delivered``, ``failed`` (retryable: the
   receiver was down) or ``rejected`` (a 4xx other than 429).

:meth:`WebhookNotifier.redrive` (the scheduler, every minute, and ``audit
notifications redrive``) sends again every ``failed`` entry and every
``pending`` one older than ``stale_after`` (the process died between
recording and sending), so nothing recorded is lost; a receiver may see an
event twice and dedups by the key.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from elasticsearch import ApiError, Elasticsearch, TransportError

from audit.adapters.elasticsearch.versioned import VersionedIndex, ensure_index
from audit.domain.checklists import ChecklistItemState
from audit.domain.disclosure import DisclosureRequest
from audit.domain.incidents import Incident
from audit.domain.notifications import (
    SIGNATURE_HEADER,
    EventKind,
    body_bytes,
    build_pagerduty_event,
    build_request_body,
    build_webhook_body,
    signature_header,
)
from audit.errors import ConfigurationError
from audit.services.ports.ingest import MetricsRecorder

log = logging.getLogger(__name__)

MAPPING = "audit-notifications"
ID_HEADER = "X-Elastra-Notification-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PENDING, FAILED, REJECTED = "pending", "failed", "rejected"
DELIVERED, DUPLICATE = "delivered", "duplicate"
#: The ``outcome`` label values of ``audit_notifications_total`` (the alert
#: rules match these; tests/ops/test_alerts.py holds them to this list).
OUTCOMES = frozenset({DELIVERED, FAILED, REJECTED, DUPLICATE})
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: str
    format: Literal["json", "pagerduty"] = "json"
    routing_key: str | None = None
    timeout_seconds: float = 5.0
    max_attempts: int = 4
    backoff_seconds: float = 0.5

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(f"AUDIT_WEBHOOK_URL {self.url!r} must be http(s)://")
        if not self.secret:
            raise ConfigurationError("AUDIT_WEBHOOK_URL is set: set AUDIT_WEBHOOK_SECRET too")
        if self.format == "pagerduty" and not self.routing_key:
            raise ConfigurationError(
                "AUDIT_WEBHOOK_FORMAT=pagerduty needs AUDIT_PAGERDUTY_ROUTING_KEY"
            )


@dataclass(frozen=True)
class _Attempts:
    outcome: Literal["delivered", "failed", "rejected"]
    attempts: int
    http_status: int | None
    error: str


class WebhookNotifier:
    def __init__(
        self,
        config: WebhookConfig,
        client: Elasticsearch,
        index: str,
        metrics: MetricsRecorder,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._log = VersionedIndex(client, index, "notification")
        self._metrics = metrics
        self._sleep = sleep

    def ensure_index(self) -> None:
        ensure_index(self._log.client, self._log.index, MAPPING)

    def notify(
        self,
        kind: EventKind,
        incident: Incident,
        *,
        sent_for: datetime,
        item: ChecklistItemState | None = None,
        discriminator: str = "",
    ) -> str:
        body = build_webhook_body(
            kind, incident, sent_for=sent_for, item=item, discriminator=discriminator
        )
        key = str(body["id"])
        payload: dict[str, Any] = body
        if self._config.format == "pagerduty":
            payload = build_pagerduty_event(incident, self._config.routing_key or "")
            if item is not None:
                payload = _item_alert(payload, incident, item, str(body["kind"]))
        subject = {"incident_id": incident.id, "item_id": item.item_id if item else None}
        return self._record_and_send(key, str(body["kind"]), subject, body_bytes(payload))

    def notify_request(
        self,
        kind: EventKind,
        request: DisclosureRequest,
        *,
        sent_for: datetime,
        item: ChecklistItemState,
    ) -> str:
        """A lawful request's deadline, as JSON (legal's receiver; see
        :func:`~audit.domain.notifications.build_request_body` for what it
        leaves out). The notifier is legal's own: its URL, secret and log."""
        if self._config.format != "json":
            raise ConfigurationError("lawful-request notifications are sent as JSON only")
        body = build_request_body(kind, request, sent_for=sent_for, item=item)
        subject = {"request_id": request.id, "item_id": item.item_id}
        return self._record_and_send(str(body["id"]), str(body["kind"]), subject, body_bytes(body))

    def _record_and_send(self, key: str, kind: str, subject: dict[str, Any], data: bytes) -> str:
        entry = {
            "id": key,
            "kind": kind,
            **subject,
            "format": self._config.format,
            "status": PENDING,
            "attempts": 0,
            "created_at": _now(),
            "payload": data.decode("utf-8"),
        }
        if not self._log.create(key, entry):
            self._metrics.inc("audit_notifications_total", outcome=DUPLICATE)
            return DUPLICATE
        # A crash here leaves the entry pending: the redrive sends it.
        return self._deliver(key, entry, data)

    def _deliver(self, key: str, entry: dict[str, Any], data: bytes) -> str:
        result = self._post(data, key)
        self._record(key, entry, result)
        self._metrics.inc("audit_notifications_total", outcome=result.outcome)
        if result.outcome != "delivered":
            log.warning(
                "notification %s (%s) %s: %s", key, entry["kind"], result.outcome, result.error
            )
        return result.outcome

    def entries(self, statuses: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Delivery-log entries (oldest first), of the given statuses (all when empty)."""
        query: dict[str, Any] = (
            {"terms": {"status": list(statuses)}} if statuses else {"match_all": {}}
        )
        try:
            self._log.client.indices.refresh(index=self._log.index)
        except (ApiError, TransportError) as err:
            log.warning("delivery log not refreshed: %s", err)
        return list(self._log.search(query, [{"created_at": "asc"}, {"id": "asc"}]))

    def redrive(self, now: datetime, stale_after: timedelta | None = None) -> dict[str, int]:
        """Send again what was recorded and not delivered: ``failed`` entries, and
        ``pending`` ones older than ``stale_after`` (default: the longest a live
        send can take, plus a minute). Answers the count per outcome."""
        stale = (
            stale_after if stale_after is not None else self.max_send_time() + timedelta(minutes=1)
        )
        outcomes: dict[str, int] = {}
        for entry in self.entries((PENDING, FAILED)):
            created = datetime.fromisoformat(str(entry["created_at"]))
            if entry["status"] == PENDING and now - created < stale:
                continue  # possibly still being sent by the process that recorded it
            data = str(entry.get("payload") or "").encode("utf-8")
            # "unrecoverable": recorded before payloads were kept in the log
            outcome = self._deliver(str(entry["id"]), entry, data) if data else "unrecoverable"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return outcomes

    def max_send_time(self) -> timedelta:
        config = self._config
        waits = sum(
            min(config.backoff_seconds * 2**i, MAX_BACKOFF_SECONDS)
            for i in range(config.max_attempts - 1)
        )
        return timedelta(seconds=config.timeout_seconds * config.max_attempts + waits)

    def _post(self, data: bytes, key: str) -> _Attempts:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(data, self._config.secret),
            ID_HEADER: key,
            IDEMPOTENCY_HEADER: key,
        }
        status: int | None = None
        error = ""
        for attempt in range(1, self._config.max_attempts + 1):
            request = urllib.request.Request(  # noqa: S310 - scheme checked in WebhookConfig
                self._config.url, data=data, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(  # noqa: S310
                    request, timeout=self._config.timeout_seconds
                ) as response:
                    return _Attempts("delivered", attempt, int(response.status), "")
            except urllib.error.HTTPError as err:
                status, error = err.code, f"HTTP {err.code}"
                if err.code != 429 and err.code < 500:
                    return _Attempts("rejected", attempt, status, error)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                status, error = None, f"{type(err).__name__}: {err}"
            if attempt < self._config.max_attempts:
                delay = self._config.backoff_seconds * 2 ** (attempt - 1)
                self._sleep(min(delay, MAX_BACKOFF_SECONDS))
        return _Attempts("failed", self._config.max_attempts, status, error)

    def _record(self, key: str, entry: dict[str, Any], result: _Attempts) -> None:
        done = {
            **entry,
            "status": result.outcome,
            "attempts": int(entry.get("attempts") or 0) + result.attempts,
            "http_status": result.http_status,
            "error": result.error,
            "finished_at": _now(),
        }
        try:
            self._log.client.index(index=self._log.index, id=key, document=done, refresh=True)
        except (ApiError, TransportError) as err:
            # The send happened; a missing outcome only loses bookkeeping.
            log.warning("delivery log of %s not updated: %s", key, err)


def _item_alert(
    event: dict[str, Any], incident: Incident, item: ChecklistItemState, kind: str
) -> dict[str, Any]:
    """A checklist deadline as its own PagerDuty alert: ``dedup_key`` names the incident
    and the item, so a resend is deduplicated and the incident's alert is not merged."""
    due = item.due_at.isoformat() if item.due_at else "no deadline"
    return {
        "routing_key": event["routing_key"],
        "event_action": "trigger",
        "dedup_key": f"{incident.id}:{item.item_id}",
        "payload": {
            "summary": f"[{item.status.value}] {item.title} (due {due}; {incident.id})"[:1024],
            "source": "elastra-audit",
            "severity": "error" if item.status.value == "overdue" else "warning",
            "component": "audit",
            "class": kind,
            "custom_details": {
                "incident_id": incident.id,
                "item_id": item.item_id,
                "legal_basis": item.legal_basis,
                "due_at": item.due_at.isoformat() if item.due_at else None,
            },
        },
    }


class DisabledNotifier:
    """The notifier when no webhook is configured: sends nothing."""

    def notify_request(
        self,
        kind: EventKind,
        request: DisclosureRequest,
        *,
        sent_for: datetime,
        item: ChecklistItemState,
    ) -> str:
        return "disabled"

    def notify(
        self,
        kind: EventKind,
        incident: Incident,
        *,
        sent_for: datetime,
        item: ChecklistItemState | None = None,
        discriminator: str = "",
    ) -> str:
        return "disabled"


def _now() -> str:
    return datetime.now(UTC).isoformat()
