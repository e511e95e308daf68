"""The steps of a lawful request over HTTP: refusals are problem documents."""

from __future__ import annotations

from typing import Any

import pytest

from audit.domain.disclosure import ProcessType

from .api_support import (  # noqa: F401 - api_env and fresh are fixtures
    LEGAL,
    ORG_A,
    ApiEnv,
    Fresh,
    api_env_fixture,
    fresh_fixture,
)

pytestmark = pytest.mark.integration


def _post(api_env: ApiEnv, url: str, body: object, role: str = "legal") -> Any:
    headers = api_env.auth(LEGAL[0], [role], [ORG_A])
    return api_env.client.post(url, json=body, headers=headers)


def test_a_rejected_request_answers_409_to_production(api_env: ApiEnv, fresh: Fresh) -> None:
    rid = fresh.mapped()
    reviewed = _post(
        api_env, f"/v1/disclosures/{rid}/review", {"outcome": "reject", "reason": "overbroad"}
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["review"]["outcome"] == "reject"
    produced = _post(api_env, f"/v1/disclosures/{rid}/produce", {})
    assert produced.status_code == 409
    assert produced.headers["content-type"] == "application/problem+json"
    assert "answered reject" in produced.json()["detail"]


def test_an_unverified_emergency_request_answers_409(api_env: ApiEnv, fresh: Fresh) -> None:
    rid = fresh.request(ProcessType.EMERGENCY)
    produced = _post(api_env, f"/v1/disclosures/{rid}/produce", {})
    assert produced.status_code == 409
    assert "verified" in produced.json()["detail"]


def test_compliance_reviews_but_does_not_produce(api_env: ApiEnv, fresh: Fresh) -> None:
    rid = fresh.request()
    body = {"outcome": "narrow", "reason": "one user", "scope": "usr_2 only"}
    reviewed = _post(api_env, f"/v1/disclosures/{rid}/review", body, role="compliance")
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["scope"] == "usr_2 only"
    refused = _post(api_env, f"/v1/disclosures/{rid}/produce", {}, role="compliance")
    assert refused.status_code == 403


def test_a_bad_step_body_is_a_4xx_problem(api_env: ApiEnv, fresh: Fresh) -> None:
    rid = fresh.request()
    bad = _post(api_env, f"/v1/disclosures/{rid}/close", {"outcome": "vanished"})
    assert 400 <= bad.status_code < 500
    assert bad.headers["content-type"] == "application/problem+json"
