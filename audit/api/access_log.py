"""The audit of the audit: one contract event per request that reads or changes audit data.

Published to the security topic like any producer's event (so it is
ingested, stored, chained and searchable), validated against the contract
before it is sent. See docs/api.md for the fields.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from kafka import KafkaProducer

from audit.adapters.kafka.config import connection_options
from audit.adapters.kafka.topics import ensure_topics
from audit.api.principal import Principal
from audit.domain.event import normalize_document
from audit.settings import Settings

_HEADERS = [("content-type", b"application/json"), ("schema", b"elastra.audit.v1")]
_MAX_VALUE = 128
_REDACTED_PARAMS = frozenset({"cursor"})
_REASONS = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    429: "too_many_requests",
    503: "unavailable",
}


@dataclass
class RequestRecord:
    """What a handler tells the trail about the request it served."""

    count: int | None = None
    resource_id: str | None = None
    organization_id: str | None = None
    body_fields: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AccessFacts:
    principal: Principal
    action: str
    resource_type: str
    method: str
    route: str
    status: int
    path_params: dict[str, str]
    query: list[tuple[str, str]]
    client_ip: str | None
    user_agent: str | None
    request_id: str
    record: RequestRecord


def _short(value: str) -> str:
    return value if len(value) <= _MAX_VALUE else value[:_MAX_VALUE] + "..."


def sanitized_params(facts: AccessFacts) -> dict[str, Any]:
    """Path parameters, query parameters as [name, value] pairs (values cut to 128
    characters, cursors elided; a client's names never become field names), and
    the names of the body's fields (not their values)."""
    params: dict[str, Any] = {
        "path": {k: _short(v) for k, v in facts.path_params.items()},
        "query": [
            [_short(name), "<elided>" if name in _REDACTED_PARAMS else _short(value)]
            for name, value in facts.query[:32]
        ],
    }
    if facts.record.body_fields:
        params["body_fields"] = sorted(facts.record.body_fields)[:32]
    return params


def build_event(facts: AccessFacts, platform_org: str, now: datetime) -> dict[str, Any]:
    principal = facts.principal
    scope = principal.organizations
    organization = next(iter(scope)) if scope is not None and len(scope) == 1 else platform_org
    success = facts.status < 400
    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "action": facts.action,
        "outcome": "success" if success else "failure",
        "provider": "audit-service",
    }
    if not success:
        event["reason"] = _REASONS.get(facts.status, "error")
    resource: dict[str, Any] = {"type": facts.resource_type}
    if facts.record.resource_id:
        resource["id"] = _short(facts.record.resource_id)
    if facts.record.organization_id:
        resource["organization_id"] = _short(facts.record.organization_id)
    elastra: dict[str, Any] = {
        "request": {"id": facts.request_id},
        "resource": resource,
        # Not a contract field: kept in the stored document as it came.
        "api": {
            "principal": principal.id,
            "principal_kind": principal.kind,
            "roles": sorted(r.value for r in principal.roles),
            "scope": principal.scope_list,
            "route": facts.route,
            "method": facts.method,
            "status": facts.status,
            "params": sanitized_params(facts),
        },
    }
    if facts.record.count is not None:
        elastra["records"] = facts.record.count
    document: dict[str, Any] = {
        "@timestamp": now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "event": event,
        "organization": {"id": organization},
        "user": {
            "id": principal.id,
            "name": principal.id,
            "roles": sorted(r.value for r in principal.roles),
        },
        "elastra": elastra,
    }
    if facts.client_ip:
        with contextlib.suppress(ValueError):
            document["source"] = {"ip": str(ipaddress.ip_address(facts.client_ip))}
    if facts.user_agent:
        document["user_agent"] = {"original": facts.user_agent[:512]}
    return document


def _any_broker_listening(bootstrap: str, timeout: float = 2.0) -> bool:
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


class AuditTrail:
    """Publishes access events to the security topic and waits for the broker's ack."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def _get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                ensure_topics(self._settings, {self._settings.topic_security: None})
                self._producer = KafkaProducer(
                    client_id="elastra-audit-api",
                    acks="all",
                    linger_ms=0,
                    max_block_ms=int(self._settings.api_audit_timeout_seconds * 1000),
                    **connection_options(self._settings),
                )
            return self._producer

    def publish(self, facts: AccessFacts) -> dict[str, Any]:
        """Send the event (acks=all) and return it; raises if the broker did not take it."""
        now = datetime.now(UTC)
        document = build_event(facts, self._settings.api_platform_org_id, now)
        value = orjson.dumps(document)
        # Valid per the contract, or nothing is sent (EventRejected).
        normalize_document(orjson.loads(value), received_at=now)
        key = document["organization"]["id"].encode()
        future = self._get().send(
            self._settings.topic_security, key=key, value=value, headers=_HEADERS
        )
        future.get(timeout=self._settings.api_audit_timeout_seconds)
        return document

    def reachable(self) -> bool:
        try:
            partitions = self._get().partitions_for(self._settings.topic_security)
        except Exception:  # any client failure means "not reachable"
            return False
        # partitions_for answers from cached metadata even with the broker gone:
        # a broker must also accept a connection now.
        return bool(partitions) and _any_broker_listening(self._settings.kafka_bootstrap)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
