"""``GET /v1/exports``: the export jobs a caller may see, scoped by organization like
reading one job; organization administrators export and download their own
organization's trail and never see another's. Real node and broker, app in-process."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from audit.services.bundle import verify_bundle

from .api_support import (  # noqa: F401 - api_env and fresh are fixtures
    ORG_A,
    ORG_B,
    ApiEnv,
    api_env_fixture,
    fresh_fixture,
    wait_job,
)

pytestmark = pytest.mark.integration


def _export(env: ApiEnv, headers: dict[str, str], org: str, purpose: str) -> dict[str, Any]:
    created = env.client.post(
        "/v1/exports",
        json={"organization_id": org, "format": "ndjson", "purpose": purpose},
        headers=headers,
    )
    assert created.status_code == 202, created.text
    job = wait_job(env, created.json()["links"]["self"], headers)
    assert job["state"] == "succeeded", job
    return job


def _listed(env: ApiEnv, headers: dict[str, str], query: str = "") -> Any:
    return env.client.get(f"/v1/exports{query}", headers=headers)


def _ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["jobs"])
    return {j["id"] for j in body["jobs"]}


def test_listing_is_scoped_by_organization_for_every_role_that_may_export(
    api_env: ApiEnv,
) -> None:
    admin_a = api_env.auth("olga@org-a", ["admin"], [ORG_A])
    admin_b = api_env.auth("bea@org-b", ["admin"], [ORG_B])
    # Each organization's administrator exports its own trail...
    job_a = _export(api_env, admin_a, ORG_A, "our yearly audit")
    job_b = _export(api_env, admin_b, ORG_B, "their yearly audit")
    # ... and not the other's.
    refused = api_env.client.post(
        "/v1/exports",
        json={"organization_id": ORG_B, "format": "ndjson", "purpose": "peek"},
        headers=admin_a,
    )
    assert refused.status_code == 403
    setup = api_env.data["export_job"]["id"]  # organization A's, started by compliance

    seen_a = _ids(_listed(api_env, admin_a))
    assert {job_a["id"], setup} <= seen_a  # by organization, not by who started it
    assert job_b["id"] not in seen_a
    assert _ids(_listed(api_env, admin_b)) == {job_b["id"]}
    # Naming another organization is refused like any other route's scope.
    assert _listed(api_env, admin_b, f"?organization_id={ORG_A}").status_code == 403
    assert _ids(_listed(api_env, admin_a, f"?organization_id={ORG_A}")) == seen_a

    # Compliance and legal as the table says: their scope's jobs, all for the platform.
    legal_b = api_env.auth("lee@legal", ["legal"], [ORG_B])
    assert _ids(_listed(api_env, legal_b)) == {job_b["id"]}
    platform = api_env.auth("cora@compliance", ["compliance"], "*")
    everything = _ids(_listed(api_env, platform))
    assert {job_a["id"], job_b["id"], setup} <= everything
    assert _ids(_listed(api_env, platform, f"?organization_id={ORG_B}")) == {job_b["id"]}
    platform_admin = api_env.auth("pat", ["admin"], "*")
    assert _ids(_listed(api_env, platform_admin)) == everything
    assert _ids(_listed(api_env, platform, "?state=failed")) == set()
    assert job_a["id"] in _ids(_listed(api_env, platform, "?state=succeeded"))
    # Roles that do not export do not list, whatever their scope.
    for role in ("oncall", "auditor", "privacy"):
        assert _listed(api_env, api_env.auth("x", [role], "*")).status_code == 403, role
    # Bad input is a problem document, not an empty page.
    bad = _listed(api_env, platform, "?state=sideways")
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"


def test_listed_jobs_read_as_the_job_itself_and_carry_their_size(api_env: ApiEnv) -> None:
    admin_a = api_env.auth("olaf@org-a", ["admin"], [ORG_A])
    job = _export(api_env, admin_a, ORG_A, "size check")
    listed = _listed(api_env, admin_a, f"?organization_id={ORG_A}").json()["jobs"]
    assert [j["created_at"] for j in listed] == sorted(
        (j["created_at"] for j in listed), reverse=True
    )
    row = next(j for j in listed if j["id"] == job["id"])
    assert row == job  # the same view (and redaction) as GET /v1/exports/{id}
    assert row["size_bytes"] > 0 and row["links"]["bundle"].endswith("/bundle")
    assert row["organization_id"] == ORG_A and row["result"]["events"] == 30


def test_org_admin_downloads_own_export_but_not_anothers(api_env: ApiEnv, tmp_path: Path) -> None:
    admin_a = api_env.auth("oona@org-a", ["admin"], [ORG_A])
    admin_b = api_env.auth("bert@org-b", ["admin"], [ORG_B])
    job = _export(api_env, admin_a, ORG_A, "download check")
    bundle = api_env.client.get(job["links"]["bundle"], headers=admin_a)
    assert bundle.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(bundle.content), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    assert verify_bundle(tmp_path) == []
    for url in (job["links"]["self"], job["links"]["bundle"]):
        other = api_env.client.get(url, headers=admin_b)
        assert other.status_code == 403
        assert other.json()["detail"] == "not allowed, or no such resource"
        assert job["id"] not in other.text
    missing = api_env.client.get("/v1/exports/export-nope", headers=admin_b)
    assert missing.status_code == 403 and missing.content == other.content
