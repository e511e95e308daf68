"""OpenID Connect sign-in (authorization code + PKCE) against a provider on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect

from audit.api.app import create_app

from .conftest import Console, _free_port
from .fake_idp import CLIENT_ID, CLIENT_SECRET, FakeIdp

pytestmark = pytest.mark.integration


def _serve(app: object) -> tuple[uvicorn.Server, threading.Thread, int]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return server, thread, port


@pytest.fixture
def oidc_console(console: Console, tmp_path: Path) -> Iterator[tuple[str, FakeIdp]]:
    idp_port = _free_port()
    idp = FakeIdp(
        f"http://127.0.0.1:{idp_port}",
        {"sub": "alice@elastra.test", "roles": ["oncall"], "orgs": ["org_7f3a"]},
    )
    idp_server = uvicorn.Server(
        uvicorn.Config(idp.app(), host="127.0.0.1", port=idp_port, log_level="warning")
    )
    idp_thread = threading.Thread(target=idp_server.run, daemon=True)
    idp_thread.start()
    secret = tmp_path / "client-secret"
    secret.write_text(CLIENT_SECRET + "\n")
    settings = console.settings.model_copy(
        update={
            "ui_oidc_issuer": idp.issuer,
            "ui_oidc_client_id": CLIENT_ID,
            "ui_oidc_client_secret_file": str(secret),
            "ui_dev_sign_in": False,
        }
    )
    server, thread, port = _serve(create_app(settings))
    try:
        yield f"http://127.0.0.1:{port}", idp
    finally:
        for s, t in ((server, thread), (idp_server, idp_thread)):
            s.should_exit = True
            t.join(timeout=10)


def test_sign_in_with_the_identity_provider_maps_claims_to_roles_and_scope(
    page: Page, oidc_console: tuple[str, FakeIdp]
) -> None:
    url, idp = oidc_console
    page.goto(f"{url}/ui/incidents")
    assert "/ui/sign-in" in page.url
    assert page.get_by_text("Development sign-in").count() == 0  # switched off here
    page.get_by_role("link", name="Sign in with your identity provider").click()
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    assert page.url == f"{url}/ui/incidents"
    expect(page.locator("form.who")).to_contain_text("alice@elastra.test (oncall; scope org_7f3a)")
    # The code was exchanged with the PKCE verifier (the provider checks it).
    assert len(idp.token_requests) == 1
    assert len(idp.token_requests[0]["code_verifier"]) >= 43
    # Scope from the orgs claim: only org_7f3a's incidents.
    assert "org_0b1d" not in page.locator("#queue-body").inner_text().replace("org_7f3a", "")


def test_a_callback_that_did_not_start_here_is_refused(
    page: Page, oidc_console: tuple[str, FakeIdp]
) -> None:
    url, _ = oidc_console
    page.goto(f"{url}/ui/sign-in/callback?code=stolen&state=forged")
    expect(page.get_by_role("alert")).to_contain_text("Refused (401)")
    page.goto(f"{url}/ui/incidents")
    assert "/ui/sign-in" in page.url
