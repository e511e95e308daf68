"""The authorization matrix: every route x every role x own / other tenant / platform scope.

Real node, real broker; the app runs in-process. Writes act on a fresh
incident or request per case, so each expected status is exact.
"""

from __future__ import annotations

import itertools

import pytest

from audit.api.access import ROUTES
from audit.api.principal import Role

from .api_support import (  # noqa: F401 - api_env and fresh are fixtures
    IP_A,
    IP_AB,
    LEGAL,
    NOW,
    ORG_A,
    ORG_B,
    PLATFORM_ONLY,
    T0,
    USER_A,
    USER_B,
    ApiEnv,
    Fresh,
    api_env_fixture,
    build_request,
    fresh_fixture,
    intake,
    request_spec,
    send,
    wait_job,
)

pytestmark = pytest.mark.integration

SCOPES = {"own": [ORG_A], "other": [ORG_B], "platform": "*"}
PROTECTED = sorted(k for k, rule in ROUTES.items() if not rule.public)
PRINCIPAL = LEGAL[0]  # a configured legal principal, so approvals can succeed


def expected_status(route: tuple[str, str], role: Role, scope: str, success: int) -> int:
    roles = ROUTES[route].roles
    assert roles is not None
    if role not in roles or scope == "other":
        return 403
    if route in PLATFORM_ONLY and scope != "platform":
        return 403
    return success


def test_table_covers_every_role_and_route() -> None:
    assert len(PROTECTED) == 44
    for route in PROTECTED:
        roles = ROUTES[route].roles
        assert roles, f"{route} is allowed to nobody"
        if route[0] == "POST":
            assert Role.AUDITOR not in roles, f"auditor is read-only: {route}"
        assert ROUTES[route].action, f"{route} is not audited"


@pytest.mark.parametrize(
    ("route", "role", "scope"),
    list(itertools.product(PROTECTED, list(Role), SCOPES)),
    ids=lambda v: v if isinstance(v, str) else "-".join(v) if isinstance(v, tuple) else str(v),
)
def test_matrix(
    api_env: ApiEnv, fresh: Fresh, route: tuple[str, str], role: Role, scope: str
) -> None:
    request = build_request(route, api_env, fresh)
    headers = api_env.auth(PRINCIPAL, [role.value], SCOPES[scope])
    response = send(api_env, request, headers)
    expected = expected_status(route, role, scope, request[3])
    assert response.status_code == expected, (route, role, scope, response.text)
    if expected == 202:  # a job: let it finish (one running job per principal)
        assert wait_job(api_env, response.json()["links"]["self"], headers)["state"] == "succeeded"
    if expected == 403:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "urn:elastra-audit:problem:forbidden",
            "title": "Forbidden",
            "status": 403,
            "detail": "not allowed, or no such resource",
        }


def test_missing_and_not_yours_answer_the_same(api_env: ApiEnv) -> None:
    tenant_b = api_env.auth("bo", ["oncall"], [ORG_B])
    not_yours = api_env.client.get(
        f"/v1/incidents/{api_env.data['incidents']['a']}", headers=tenant_b
    )
    missing = api_env.client.get("/v1/incidents/inc-does-not-exist", headers=tenant_b)
    assert not_yours.status_code == missing.status_code == 403
    assert not_yours.content == missing.content
    platform = api_env.auth("pat", ["oncall"], "*")
    assert api_env.client.get("/v1/incidents/inc-nope", headers=platform).status_code == 404


def test_tenant_never_sees_another_tenants_events(api_env: ApiEnv) -> None:
    tenant_b = api_env.auth("bo", ["oncall"], [ORG_B])
    page = api_env.client.get("/v1/events?limit=1000", headers=tenant_b).json()
    orgs = {e["organization"]["id"] for e in page["events"]}
    assert orgs == {ORG_B} and page["count"] == 25
    # A's IP, seen from B: only B's own events on it.
    timeline = api_env.client.get(
        f"/v1/events/timeline?entity=ip&value={IP_A}", headers=tenant_b
    ).json()
    assert timeline["event_count"] == 5
    assert {e["user"]["id"] for e in timeline["events"]} == {USER_B}
    top = api_env.client.get(f"/v1/events/top?entity=ip&value={IP_A}", headers=tenant_b).json()
    assert top["event_count"] == 5
    # Free text cannot reach across tenants either.
    found = api_env.client.get(f"/v1/events?q={USER_A}", headers=tenant_b).json()
    assert found["count"] == 0


def test_multi_tenant_incident_redacted_for_a_tenant(api_env: ApiEnv) -> None:
    incident_id = api_env.data["incidents"]["ab"]
    full = api_env.client.get(
        f"/v1/incidents/{incident_id}", headers=api_env.auth("pat", ["oncall"], "*")
    ).json()
    assert set(full["incident"]["organization_ids"]) == {ORG_A, ORG_B}
    assert full["incident"]["entities"]["source.ip"] == [IP_AB]
    seen = api_env.client.get(
        f"/v1/incidents/{incident_id}", headers=api_env.auth("bo", ["oncall"], [ORG_B])
    )
    assert seen.status_code == 200
    body = seen.json()
    assert body["incident"]["redacted"] is True
    assert body["incident"]["organization_ids"] == [ORG_B]
    assert body["incident"]["entities"] == {} and body["incident"]["detection_ids"] == []
    assert body["facts"] is None and body["checklist"] == []
    assert ORG_A not in seen.text and "usr_x_a" not in seen.text
    # A tenant cannot change an incident that is not wholly its own.
    change = api_env.client.post(
        f"/v1/incidents/{incident_id}/comments",
        json={"text": "mine?"},
        headers=api_env.auth("bo", ["oncall"], [ORG_B]),
    )
    assert change.status_code == 403


def test_service_api_key(api_env: ApiEnv) -> None:
    headers = {"Authorization": f"Bearer {api_env.service_key}"}
    page = api_env.client.get("/v1/events?limit=1000", headers=headers)
    assert page.status_code == 200
    assert {e["organization"]["id"] for e in page.json()["events"]} == {ORG_A}
    # auditor: read-only
    refused = api_env.client.post(
        f"/v1/incidents/{api_env.data['incidents']['a']}/comments",
        json={"text": "x"},
        headers=headers,
    )
    assert refused.status_code == 403
