"""Notification payloads (pure): webhook bodies, their HMAC signature, PagerDuty events.

Two channels: on-call's (incidents and their checklists) and legal's (the
deadlines of lawful requests, :func:`build_request_body`), each with a
receiver and secret of its own.

The HTTP adapter sends ``body_bytes(body)`` with the header
``X-Elastra-Signature: sha256=<sign(...)>``; receivers check it with
:func:`verify_signature`. The PagerDuty payload follows the Events API v2
shape: ``dedup_key`` is the incident id, the action follows the status.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from audit.domain.checklists.evaluation import ChecklistItemState
from audit.domain.disclosure.model import DisclosureRequest
from audit.domain.incidents.model import Incident, IncidentStatus

SIGNATURE_HEADER = "X-Elastra-Signature"
SIGNATURE_PREFIX = "sha256="
SCHEMA = "elastra.audit.notification.v1"


class EventKind(StrEnum):
    INCIDENT_OPENED = "incident.opened"
    SEVERITY_RAISED = "incident.severity_raised"
    STATUS_CHANGED = "incident.status_changed"
    ITEM_DUE_SOON = "checklist.item_due_soon"
    ITEM_OVERDUE = "checklist.item_overdue"
    REQUEST_ITEM_DUE_SOON = "lawful_request.item_due_soon"
    REQUEST_ITEM_OVERDUE = "lawful_request.item_overdue"


def notification_id(event_kind: EventKind | str, incident_id: str, discriminator: str) -> str:
    """Idempotency key: one notification per (kind, incident, discriminator)."""
    key = f"{EventKind(event_kind).value}|{incident_id}|{discriminator}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def build_webhook_body(
    event_kind: EventKind | str,
    incident: Incident,
    *,
    sent_for: datetime,
    item: ChecklistItemState | None = None,
    discriminator: str = "",
) -> dict[str, Any]:
    """The JSON-able body of one webhook call.

    ``sent_for`` is the time of the change notified (not of sending), so that
    building the body twice gives the same bytes. ``discriminator`` tells
    apart two notifications of the same kind for one incident (the new
    status, the item id); it defaults to the history length.
    """
    kind = EventKind(event_kind)
    disc = discriminator or (item.item_id if item else str(len(incident.history)))
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "id": notification_id(kind, incident.id, disc),
        "kind": kind.value,
        "occurred_at": sent_for.isoformat(),
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "severity": incident.severity.value,
            "status": incident.status.value,
            "assignee": incident.assignee,
            "organization_ids": list(incident.organization_ids),
            "affected_organization_ids": list(incident.affected_organization_ids),
            "data_categories": list(incident.data_categories),
            "opened_at": incident.opened_at.isoformat(),
            "rule_ids": list(incident.rule_ids),
        },
    }
    if item is not None:
        body["item"] = {
            "item_id": item.item_id,
            "title": item.title,
            "legal_basis": item.legal_basis,
            "status": item.status.value,
            "due_at": item.due_at.isoformat() if item.due_at else None,
        }
    return body


def request_item_discriminator(item: ChecklistItemState) -> str:
    """One notification per item and deadline: a deadline that moves (a renewed
    preservation, a new return date) is notified again."""
    due = item.due_at.isoformat() if item.due_at is not None else "-"
    return f"{item.item_id}@{due}"


def build_request_body(
    event_kind: EventKind | str,
    request: DisclosureRequest,
    *,
    sent_for: datetime,
    item: ChecklistItemState,
) -> dict[str, Any]:
    """The body of a lawful-request deadline notification, for legal's receiver.

    It carries what legal needs to open the request and act: its id, process
    type, whether it is an emergency, when it was received, and the item.
    Not the authority, the requested data, the accounts or the organizations
    concerned: a request may be under a non-disclosure order (18 U.S.C.
    § 2705(b); Regulation (EU) 2023/1543 Art. 13), and a webhook body ends up
    in chat rooms and tickets. ``sent_for`` is the time the state was seen, so
    building the body twice gives the same bytes.
    """
    kind = EventKind(event_kind)
    return {
        "schema": SCHEMA,
        "id": notification_id(kind, request.id, request_item_discriminator(item)),
        "kind": kind.value,
        "occurred_at": sent_for.isoformat(),
        "lawful_request": {
            "id": request.id,
            "process_type": request.process_type.value,
            "emergency": request.emergency,
            "received_at": request.intake.received_at.isoformat(),
        },
        "item": {
            "item_id": item.item_id,
            "title": item.title,
            "legal_basis": item.legal_basis,
            "status": item.status.value,
            "due_at": item.due_at.isoformat() if item.due_at else None,
        },
    }


def body_bytes(body: Mapping[str, Any]) -> bytes:
    """Canonical bytes of a body: sorted keys, no spaces, UTF-8."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, secret: bytes | str) -> str:
    """Hex HMAC-SHA256 of ``body`` under ``secret``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not key:
        raise ValueError("an empty webhook secret signs nothing; configure a secret")
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secret: bytes | str) -> str:
    return SIGNATURE_PREFIX + sign(body, secret)


def verify_signature(body: bytes, secret: bytes | str, signature: str) -> bool:
    """Constant-time check of a signature (hex, with or without ``sha256=``)."""
    given = signature.removeprefix(SIGNATURE_PREFIX).strip().lower()
    return hmac.compare_digest(given, sign(body, secret))


_PD_SEVERITY = {"low": "info", "medium": "warning", "high": "error", "critical": "critical"}


def pagerduty_action(status: IncidentStatus) -> str:
    """trigger while open, acknowledge once someone works on it, resolve when done."""
    if status is IncidentStatus.OPEN:
        return "trigger"
    if status in (
        IncidentStatus.ACKNOWLEDGED,
        IncidentStatus.INVESTIGATING,
        IncidentStatus.CONTAINED,
    ):
        return "acknowledge"
    return "resolve"


def build_pagerduty_event(
    incident: Incident, routing_key: str, *, source: str = "elastra-audit"
) -> dict[str, Any]:
    """A PagerDuty Events API v2 event for ``incident`` (dedup_key = incident id)."""
    action = pagerduty_action(incident.status)
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": incident.id,
    }
    if action == "trigger":
        event["payload"] = {
            "summary": f"[{incident.severity.value}] {incident.title} "
            f"({', '.join(incident.organization_ids)})"[:1024],
            "source": source,
            "severity": _PD_SEVERITY[incident.severity.value],
            "timestamp": incident.opened_at.isoformat(),
            "component": "audit",
            "class": ",".join(incident.rule_ids),
            "custom_details": {
                "incident_id": incident.id,
                "status": incident.status.value,
                "organization_ids": list(incident.organization_ids),
                "data_categories": list(incident.data_categories),
                "event_count": incident.event_count,
            },
        }
    return event
