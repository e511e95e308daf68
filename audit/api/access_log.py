"""The audit of the audit: one contract event per request that reads or changes audit data.

Published to the security topic like any producer's event (so it is
ingested, stored, chained and searchable), validated against the contract
before it is sent. See docs/api.md for the fields. This module builds the
event; the Kafka producer is ``audit.adapters.kafka.access_events``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from audit.api.principal import Principal
from audit.domain.event import normalize_document
from audit.services.ports.events import AccessEventSink

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


class AccessLog:
    """Publishes each access event (through the sink: the security topic) and waits for it."""

    def __init__(
        self,
        sink: AccessEventSink,
        platform_org: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sink = sink
        self._platform_org = platform_org
        self._clock = clock

    def publish(self, facts: AccessFacts) -> dict[str, Any]:
        """Send the event and return it; raises if the sink did not take it."""
        now = self._clock()
        document = build_event(facts, self._platform_org, now)
        value = orjson.dumps(document)
        # Valid per the contract, or nothing is sent (EventRejected).
        normalize_document(orjson.loads(value), received_at=now)
        self._sink.send(document["organization"]["id"].encode(), value)
        return document

    def reachable(self) -> bool:
        return self._sink.reachable()

    def close(self) -> None:
        self._sink.close()
