"""Exports, verification, legal holds and retention through the API, on the real node
and broker: an export downloads and verifies offline, uploads are checked, bad input
is a problem document, jobs are bounded."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audit.api import create_app
from audit.api.jobs import Job, JobRunner, JobsBusy
from audit.services.bundle import verify_bundle

from .api_support import (  # noqa: F401 - api_env and fresh are fixtures
    ORG_A,
    ORG_B,
    T0,
    UPLOAD_MAX,
    ApiEnv,
    Fresh,
    api_env_fixture,
    fresh_fixture,
    wait_job,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"


def _unpack(archive: bytes, into: Path, kind: str) -> None:
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            z.extractall(into)
    else:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as t:
            t.extractall(into, filter="data")


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_export_through_the_api_downloads_and_passes_verify_bundle(
    api_env: ApiEnv, tmp_path: Path, kind: str
) -> None:
    legal = api_env.auth("lee@legal", ["legal"], [ORG_A])
    created = api_env.client.post(
        "/v1/exports",
        json={"organization_id": ORG_A, "format": "ndjson", "purpose": "DSAR-7"},
        headers=legal,
    )
    assert created.status_code == 202, created.text
    job = wait_job(api_env, created.json()["links"]["self"], legal)
    assert job["state"] == "succeeded", job
    assert job["result"]["events"] == 30 and job["done"] == job["total"] == 30
    assert job["result"]["verification"] == "full"
    bundle = api_env.client.get(f"{job['links']['bundle']}?archive={kind}", headers=legal)
    assert bundle.status_code == 200
    assert (
        bundle.headers["content-type"]
        == {"tar": "application/gzip", "zip": "application/zip"}[kind]
    )
    out = tmp_path / "bundle"
    _unpack(bundle.content, out, kind)
    assert verify_bundle(out) == []
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "audit"), "verify-bundle", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    # The same archive uploaded back: no findings; edited: findings.
    verdict = api_env.client.post("/v1/exports/verify", content=bundle.content, headers=legal)
    assert verdict.status_code == 200 and verdict.json()["ok"] is True, verdict.text
    events = out / "events-0001.ndjson"
    events.write_bytes(events.read_bytes().replace(b"user.login", b"user.logout", 1))
    edited = io.BytesIO()
    with tarfile.open(fileobj=edited, mode="w") as t:
        for file in sorted(out.iterdir()):
            t.add(file, arcname=file.name)
    verdict = api_env.client.post("/v1/exports/verify", content=edited.getvalue(), headers=legal)
    assert verdict.status_code == 200
    assert verdict.json()["ok"] is False
    assert {f["kind"] for f in verdict.json()["findings"]} >= {"file_modified"}


def test_an_export_started_on_one_replica_is_polled_listed_and_downloaded_on_another(
    api_env: ApiEnv, tmp_path: Path
) -> None:
    # A second API process: same node and keys, its own disk (another pod).
    other = api_env.settings.model_copy(update={"api_export_dir": str(tmp_path / "replica-b")})
    legal = api_env.auth("rita@legal", ["legal"], [ORG_A])
    with TestClient(create_app(other)) as replica_b:
        created = api_env.client.post(
            "/v1/exports",
            json={"organization_id": ORG_A, "format": "ndjson", "purpose": "DSAR-9"},
            headers=legal,
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        polled = replica_b.get(f"/v1/exports/{job_id}", headers=legal)
        assert polled.status_code == 200, polled.text  # at once, while it runs
        deadline = time.monotonic() + 60
        while polled.json()["state"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, polled.json()
            time.sleep(0.1)
            polled = replica_b.get(f"/v1/exports/{job_id}", headers=legal)
        job = polled.json()
        assert job["state"] == "succeeded" and job["result"]["events"] == 30, job
        listed: list[str] = []
        while job_id not in listed and time.monotonic() < deadline:
            page = replica_b.get(f"/v1/exports?organization_id={ORG_A}", headers=legal)
            assert page.status_code == 200
            listed = [j["id"] for j in page.json()["jobs"]]
        assert job_id in listed
        bundle = replica_b.get(f"/v1/exports/{job_id}/bundle", headers=legal)
        assert bundle.status_code == 200, bundle.text
        stranger = api_env.auth("bo", ["compliance"], [ORG_B])
        assert replica_b.get(f"/v1/exports/{job_id}/bundle", headers=stranger).status_code == 403
    out = tmp_path / "downloaded"
    _unpack(bundle.content, out, "tar")
    assert verify_bundle(out) == []
    written = Path(api_env.settings.api_export_dir) / job_id / "bundle"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {
        p.name: p.read_bytes() for p in written.iterdir()
    }


def test_another_tenant_cannot_read_an_export(api_env: ApiEnv) -> None:
    job_id = api_env.data["export_job"]["id"]
    other = api_env.auth("bo", ["compliance"], [ORG_B])
    for url in (f"/v1/exports/{job_id}", f"/v1/exports/{job_id}/bundle"):
        response = api_env.client.get(url, headers=other)
        assert response.status_code == 403 and response.headers["content-type"] == PROBLEM
    staff = api_env.auth("pat", ["compliance"], "*")
    assert api_env.client.get("/v1/exports/export-nope", headers=staff).status_code == 404


def test_verify_inline_when_small_and_a_job_when_large(api_env: ApiEnv) -> None:
    auditor = api_env.auth("audrey", ["auditor"], [ORG_A])
    small = api_env.client.get(
        "/v1/verify",
        params={
            "organization_id": ORG_A,
            "since": T0.isoformat(),
            "until": (T0 + timedelta(seconds=5)).isoformat(),
        },
        headers=auditor,
    )
    assert small.status_code == 200, small.text
    assert small.json()["ok"] is True and small.json()["events"] >= 5
    large = api_env.client.get("/v1/verify", params={"organization_id": ORG_A}, headers=auditor)
    assert large.status_code == 202
    job = wait_job(api_env, large.json()["links"]["self"], auditor)
    assert job["state"] == "succeeded" and job["total"] == 30
    assert job["result"]["ok"] is True and job["result"]["events"] == 30


def test_holds_create_list_release(api_env: ApiEnv, fresh: Fresh) -> None:
    legal_a = api_env.auth("lee@legal", ["legal"], [ORG_A])
    hold_id = f"case-{datetime.now(UTC).strftime('%H%M%S%f')}"
    body = {"organization_ids": [ORG_A], "reason": "suit", "reference": "C-1", "hold_id": hold_id}
    created = api_env.client.post("/v1/legal-holds", json=body, headers=legal_a)
    assert created.status_code == 201 and created.json()["active"] is True
    again = api_env.client.post("/v1/legal-holds", json=body, headers=legal_a)
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    both = fresh.hold((ORG_A, ORG_B))
    listed = api_env.client.get("/v1/legal-holds", headers=legal_a).json()
    ids = {h["id"] for h in listed["holds"]}
    assert hold_id in ids and both not in ids  # a hold touching B is not A's to see
    platform = api_env.auth("pat", ["legal"], "*")
    assert both in {
        h["id"] for h in api_env.client.get("/v1/legal-holds", headers=platform).json()["holds"]
    }
    release = f"/v1/legal-holds/{hold_id}/release"
    done = api_env.client.post(release, json={"reason": "settled"}, headers=legal_a)
    assert done.status_code == 200 and done.json()["active"] is False
    assert done.json()["released_by"] == "lee@legal"
    twice = api_env.client.post(release, json={"reason": "settled"}, headers=legal_a)
    assert twice.status_code == 409
    ended = api_env.client.get("/v1/legal-holds?active=false", headers=legal_a).json()
    assert hold_id in {h["id"] for h in ended["holds"]}


def test_retention_class_among_the_allowed_and_the_plan(api_env: ApiEnv) -> None:
    admin = api_env.auth("ada", ["admin"], [ORG_B])
    url = f"/v1/retention/classes/{ORG_B}"
    first = api_env.client.put(
        url, json={"retention_class": "extended", "reason": "c"}, headers=admin
    )
    assert first.status_code == 200 and first.json()["after"] == "extended"
    back = api_env.client.put(
        url, json={"retention_class": "standard", "reason": "c"}, headers=admin
    )
    assert back.json()["before"] == "extended" and back.json()["shortening"] is True
    refused = api_env.client.put(
        url, json={"retention_class": "forever", "reason": "c"}, headers=admin
    )
    assert refused.status_code == 400 and "standard, extended" in refused.json()["detail"]
    plan = api_env.client.get("/v1/retention/plan", headers=api_env.auth("c", ["compliance"], "*"))
    assert plan.status_code == 200
    assert plan.json()["count"] == len(plan.json()["actions"]) >= 1
    assert any(a["index"].startswith(f"t{api_env.tag}-events") for a in plan.json()["actions"])


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/v1/exports", {"organization_id": ORG_A, "format": "pdf", "purpose": "x"}),
        (
            "POST",
            "/v1/exports",
            {"organization_id": ORG_A, "format": "csv", "purpose": "x", "q": 1},
        ),
        (
            "POST",
            "/v1/exports",
            {
                "organization_id": ORG_A,
                "format": "csv",
                "purpose": "x",
                "since": "2030-01-01T00:00:00Z",
                "until": "2020-01-01T00:00:00Z",
            },
        ),
        ("GET", f"/v1/verify?organization_id={ORG_A}&since=yesterday", None),
        (
            "GET",
            f"/v1/verify?organization_id={ORG_A}&until=2020-01-01T00:00:00Z&since=2030-01-01T00:00:00Z",
            None,
        ),
        ("POST", "/v1/legal-holds", {"organization_ids": [], "reason": "r", "reference": "x"}),
        (
            "POST",
            "/v1/legal-holds",
            {
                "organization_ids": [ORG_A],
                "reason": "r",
                "reference": "x",
                "start": "2030-01-01T00:00:00Z",
                "end": "2020-01-01T00:00:00Z",
            },
        ),
        ("POST", "/v1/legal-holds/UPPER/release", {"reason": "r"}),
        ("PUT", f"/v1/retention/classes/{ORG_A}", {"retention_class": "extended"}),
        ("GET", "/v1/retention/plan?at=soon", None),
        ("GET", "/v1/exports/x/bundle?archive=rar", None),
    ],
)
def test_bad_input_is_a_problem_document(
    api_env: ApiEnv, method: str, url: str, body: dict[str, object] | None
) -> None:
    headers = api_env.auth("root", ["compliance", "legal", "admin", "auditor"], "*")
    response = api_env.client.request(method, url, json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM


def _tar(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_uploads_are_bounded_and_flat(api_env: ApiEnv) -> None:
    headers = api_env.auth("lee@legal", ["legal"], "*")
    post = lambda data: api_env.client.post("/v1/exports/verify", content=data, headers=headers)  # noqa: E731
    assert post(b"").status_code == 400
    assert post(b"not an archive at all").status_code == 400
    escape = post(_tar({"../evil": b"x"}))
    assert escape.status_code == 400 and "plain files" in escape.json()["detail"]
    link = io.BytesIO()
    with tarfile.open(fileobj=link, mode="w") as t:
        info = tarfile.TarInfo("manifest.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(info)
    assert post(link.getvalue()).status_code == 400
    too_big = post(b"\0" * (UPLOAD_MAX + 1))
    assert too_big.status_code == 413 and too_big.headers["content-type"] == PROBLEM
    # A bundle without a readable manifest is refused (issue 11, item 11): with
    # no manifest there is no tenant to check the caller against.
    empty = post(_tar({"notes.txt": b"hello"}))
    assert empty.status_code == 400 and empty.headers["content-type"] == PROBLEM


def test_jobs_one_per_principal_and_bounded_per_process() -> None:
    runner = JobRunner(max_running=2, kept=1, clock=lambda: datetime.now(UTC))
    release = threading.Event()

    def blocked(job: Job) -> dict[str, object]:
        job.progress(1, 2)
        release.wait(10)
        return {"ok": True}

    first = runner.start("export", "ann", ORG_A, blocked)
    with pytest.raises(JobsBusy):
        runner.start("export", "ann", ORG_A, blocked)
    second = runner.start("verify", "bob", ORG_A, blocked)
    with pytest.raises(JobsBusy):
        runner.start("export", "cat", ORG_A, blocked)
    release.set()
    for job in (first, second):
        for _ in range(100):
            if job.finished:
                break
            threading.Event().wait(0.05)
        assert job.state == "succeeded" and job.result == {"ok": True}
    runner.start("export", "ann", ORG_A, lambda job: {})  # free again
