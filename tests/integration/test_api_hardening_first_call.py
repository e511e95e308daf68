"""Issue 11 item 18: the worked first call of docs/api.md works, and the development
token helper is refused in production."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audit.api import create_app
from audit.settings import load_settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def audit(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audit.cli.main", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_item18_keypair_token_and_api_key_as_documented(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "api.md").read_text()
    for step in ("audit api keypair", "audit api token", "sha256sum", "AUDIT_LEGAL_PRINCIPALS"):
        assert step in docs, step
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AUDIT_API_JWT_ISSUER": "https://dev.local",
        "AUDIT_API_JWT_AUDIENCE": "elastra-audit-api",
    }
    env.pop("AUDIT_ENVIRONMENT", None)
    made = audit(["api", "keypair", str(tmp_path)], env)
    assert made.returncode == 0, made.stderr
    minted = audit(
        [
            "api",
            "token",
            "--role",
            "auditor",
            "--org",
            "org_dev1",
            "--private-key",
            str(tmp_path / "jwt-private.pem"),
        ],
        env,
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    # An API key line as the docs say: sha256 of the key's text, then principal roles scope.
    service_key = "svc_dev_0123456789"
    digest = hashlib.sha256(service_key.encode()).hexdigest()
    (tmp_path / "api-keys").write_text(f"sha256:{digest} svc-dev auditor org_dev1\n")
    settings = load_settings(
        api_jwt_issuer="https://dev.local",
        api_jwt_audience="elastra-audit-api",
        api_jwt_key_file=str(tmp_path / "jwt-public.pem"),
        api_keys_file=str(tmp_path / "api-keys"),
    )
    app = create_app(settings)
    for credential in (token, service_key):
        principal = app.state.services.authenticator.authenticate(f"Bearer {credential}")
        assert principal.organizations == frozenset({"org_dev1"})
    with TestClient(app) as client:  # the public health route needs no credential
        assert client.get("/healthz").status_code == 200
    refused = audit(
        [
            "api",
            "token",
            "--role",
            "admin",
            "--org",
            "*",
            "--private-key",
            str(tmp_path / "jwt-private.pem"),
        ],
        {**env, "AUDIT_ENVIRONMENT": "production"},
    )
    assert refused.returncode != 0 and refused.stdout == ""
    assert "development helper" in refused.stderr
