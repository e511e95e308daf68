"""The audit of the audit: every audited request leaves exactly one event, found afterwards.

Each request carries its own X-Request-Id; the security topic is read from
the beginning and the events are matched by ``elastra.request.id``. The
events are then ingested by the real consumer and found through the API.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from audit.api.access import ROUTES
from audit.domain.event import normalize_document

from .api_support import (  # noqa: F401 - api_env and fresh are fixtures
    ORG_A,
    ApiEnv,
    Fresh,
    api_env_fixture,
    build_request,
    fresh_fixture,
    ingest_all,
    security_events,
    send,
    wait_job,
)

pytestmark = pytest.mark.integration

ALL_ROLES = ["oncall", "compliance", "legal", "admin", "auditor"]
PRINCIPAL = "ana@legal"


def test_every_audited_route_leaves_exactly_one_event(api_env: ApiEnv, fresh: Fresh) -> None:
    sent: dict[str, tuple[str, str, int]] = {}  # request id -> route, action, status
    headers = api_env.auth(PRINCIPAL, ALL_ROLES, "*")
    for route, rule in sorted(ROUTES.items()):
        if rule.public:
            continue
        request = build_request(route, api_env, fresh)
        success = request[3]
        request_id = f"req-{uuid.uuid4().hex}"
        response = send(api_env, request, {**headers, "X-Request-Id": request_id})
        assert response.status_code == success, (route, response.text)
        if success == 202:
            wait_job(api_env, response.json()["links"]["self"], headers)
        assert rule.action is not None
        sent[request_id] = (route[1], rule.action, success)
    # Refused requests are recorded too: a wrong role, and a malformed one.
    auditor = api_env.auth("audrey", ["auditor"], [ORG_A])
    refused = f"req-{uuid.uuid4().hex}"
    incident = api_env.data["incidents"]["a"]
    response = api_env.client.post(
        f"/v1/incidents/{incident}/transitions",
        json={"status": "acknowledged"},
        headers={**auditor, "X-Request-Id": refused},
    )
    assert response.status_code == 403
    sent[refused] = ("/v1/incidents/{incident_id}/transitions", "incident.transition", 403)
    malformed = f"req-{uuid.uuid4().hex}"
    response = api_env.client.get(
        "/v1/events?limit=0&query_dsl=%7B%7D", headers={**headers, "X-Request-Id": malformed}
    )
    assert response.status_code == 400
    sent[malformed] = ("/v1/events", "audit.access", 400)
    # Unauthenticated and public requests are not audit-data reads.
    api_env.client.get("/healthz", headers={"X-Request-Id": "req-health"})
    api_env.client.get(f"/v1/incidents/{incident}", headers={"X-Request-Id": "req-anon"})

    events = security_events(api_env.settings)
    by_request: dict[str, list[dict]] = {}
    for event in events:
        by_request.setdefault(event["elastra"]["request"]["id"], []).append(event)
    assert "req-health" not in by_request and "req-anon" not in by_request
    for request_id, (route, action, status) in sent.items():
        found = by_request.get(request_id, [])
        assert len(found) == 1, (route, len(found))
        event = found[0]
        assert event["event"]["action"] == action
        assert event["event"]["provider"] == "audit-service"
        assert event["event"]["outcome"] == ("success" if status < 400 else "failure")
        api = event["elastra"]["api"]
        assert api["route"] == route and api["status"] == status
        if status < 400:
            assert event["user"]["id"] == PRINCIPAL
            assert event["user"]["roles"] == sorted(ALL_ROLES)
            assert api["scope"] == ["*"]
            assert event["organization"]["id"] == api_env.settings.api_platform_org_id
            assert event["elastra"]["records"] >= 0
        # Valid per the contract: the ingest pipeline's own validation accepts it.
        normalize_document(dict(event), received_at=datetime.now(UTC))
    denied = by_request[refused][0]
    assert denied["event"]["reason"] == "forbidden"
    assert denied["organization"]["id"] == ORG_A  # a one-tenant principal's own tenant
    assert denied["user"]["roles"] == ["auditor"]
    # Parameters are sanitized: query values kept short, body values never recorded.
    transition = next(
        e
        for e in events
        if e["event"]["action"] == "incident.transition" and e["event"]["outcome"] == "success"
    )
    assert transition["elastra"]["api"]["params"]["body_fields"] == ["note", "status"]
    assert "on it" not in str(transition)

    # Ingested like any producer's event, then found through the API.
    stored_before = api_env.es.count(index=api_env.settings.index_prefix)["count"]
    ingest_all(api_env.settings, stored_before + len(sent), api_env.es)
    response = api_env.client.get(
        f"/v1/events?action=incident.transition&user_id={PRINCIPAL}&limit=50",
        headers=headers,
    )
    assert response.status_code == 200
    found_ids = {e["elastra"]["request"]["id"] for e in response.json()["events"]}
    transitions = {r for r, (_, a, s) in sent.items() if a == "incident.transition" and s == 200}
    assert transitions <= found_ids
    stored = response.json()["events"][0]
    assert stored["integrity"]["chain"]  # chained like every stored event
    assert stored["elastra"]["data_category"] == "authentication_security"
