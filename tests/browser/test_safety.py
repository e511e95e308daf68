"""Sign-in, CSRF and security headers of the console, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from .conftest import Console, SignIn, axe, shot

pytestmark = pytest.mark.integration


def test_an_unauthenticated_visitor_is_sent_to_sign_in(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/ui/incidents")
    assert "/ui/sign-in" in page.url
    assert "next=%2Fui%2Fincidents" in page.url
    assert page.get_by_role("heading", name="Sign in").is_visible()
    assert axe(page) == []
    shot(page, "sign-in")


def test_responses_carry_the_security_headers(page: Page, console: Console) -> None:
    response = page.goto(f"{console.url}/ui/sign-in")
    assert response is not None
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    # No inline script anywhere on the page: every <script> has a src.
    assert page.locator("script:not([src])").count() == 0


def test_the_session_cookie_is_signed_httponly_secure_and_samesite(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    sign_in("sam", "oncall")
    cookie = next(c for c in page.context.cookies() if c["name"] == "audit_console")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    # A changed cookie is not a session: back to sign-in.
    page.context.add_cookies([{**cookie, "value": cookie["value"][:-4] + "AAAA"}])
    page.goto(f"{console.url}/ui/incidents")
    assert "/ui/sign-in" in page.url


def test_a_form_posted_without_its_csrf_token_is_refused(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    sign_in("sam", "oncall")
    incident = console.data["incidents"]["a"]
    page.goto(f"{console.url}/ui/incidents/{incident}")
    form = page.locator(f"form[action='/ui/incidents/{incident}/comments']")
    form.locator("input[name=csrf_token]").evaluate("el => el.remove()")
    form.get_by_label("Comment").fill("no token")
    form.get_by_role("button", name="Add comment").click()
    assert page.get_by_role("alert").inner_text().startswith("Refused (403)")
    assert "CSRF" in page.get_by_role("alert").inner_text()
    # And the incident was not changed.
    page.goto(f"{console.url}/ui/incidents/{incident}")
    assert "no token" not in page.content()


def test_the_development_sign_in_is_refused_in_production(console: Console) -> None:
    from fastapi.testclient import TestClient

    from audit.api.app import create_app

    production = console.settings.model_copy(update={"environment": "production"})
    client = TestClient(create_app(production), base_url="https://testserver")
    page = client.get("/ui/sign-in")
    assert "Development sign-in" not in page.text
    answer = client.post(
        "/ui/sign-in/dev", data={"name": "x", "role": "admin", "scope": "*", "csrf_token": "t"}
    )
    assert answer.status_code == 403
    assert "development sign-in is off" in answer.text


def test_page_views_and_actions_leave_the_api_audit_events(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    from tests.integration.api_support import security_events

    sign_in("audrey", "oncall")
    incident = console.data["incidents"]["b"]
    page.goto(f"{console.url}/ui/incidents/{incident}")
    page.get_by_label("Comment").fill("checked the revoked token's uses")
    page.get_by_role("button", name="Add comment").click()
    page.goto(f"{console.url}/ui/orgs/org_7f3a")  # not an admin: refused, and recorded

    mine = [e for e in security_events(console.settings) if e["user"]["id"] == "dev:audrey"]
    by_route = {(e["elastra"]["api"]["route"], e["event"]["outcome"]): e for e in mine}
    view = by_route[("/ui/incidents/{incident_id}", "success")]
    assert view["event"]["action"] == "audit.access"
    assert view["elastra"]["resource"] == {"type": "incident", "id": incident}
    assert view["elastra"]["api"]["roles"] == ["oncall"]
    comment = by_route[("/ui/incidents/{incident_id}/comments", "success")]
    assert comment["elastra"]["api"]["method"] == "POST"
    assert comment["elastra"]["api"]["params"]["body_fields"] == ["text"]
    refused = by_route[("/ui/orgs/{organization_id}", "failure")]
    assert refused["event"]["reason"] == "forbidden"
    assert refused["elastra"]["api"]["status"] == 403
