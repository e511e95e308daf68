"""Legal records a lawful request from the console's inbox, through the API's route,
in a real browser over the real node; a refusal comes back to the form with its
values, and a principal who may not record sees no form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.integration.api_support import ORG_A, ORG_B

from .conftest import Console, SignIn, axe, shot

pytestmark = pytest.mark.integration


def _local(moment: datetime) -> str:
    """A datetime-local control's value (the form reads it as UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _fill(page: Page, reference: str, received: datetime, organization: str) -> None:
    form = page.get_by_role("form", name="Record a lawful request")
    form.get_by_label("Authority", exact=True).fill("Example County Sheriff")
    form.get_by_label("Agent", exact=True).fill("Det. R. Diaz")
    form.get_by_label("Channel").select_option("email")
    form.get_by_label("Received at (UTC)").fill(_local(received))
    form.get_by_label("Reference (optional)").fill(reference)
    form.get_by_label("Organization ids (comma-separated)").fill(organization)
    form.get_by_label("Requested data").fill("login records of the named user")
    form.get_by_label("Process type").select_option("subpoena")
    form.get_by_label("Return date (UTC) (optional)").fill(_local(received + timedelta(days=10)))


def test_legal_records_a_request_from_the_inbox(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    sign_in("lee", "legal", ORG_A, next_path="/ui/disclosures")
    page.get_by_role("link", name="Record a request").click()
    expect(page.get_by_role("heading", name="Record a lawful request")).to_be_visible()
    # Hints keep their case: citations and codes read as written.
    expect(page.get_by_text("ISO 3166 code of the issuing authority")).to_be_visible()
    expect(page.get_by_text("18 U.S.C. 2703(h)(2)(A)(i)")).to_be_visible()
    assert not axe(page), axe(page)
    reference = f"SUB-{uuid.uuid4().hex[:8]}"
    received = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    # Another organization is not this principal's: refused on the form, values kept.
    _fill(page, reference, received, ORG_B)
    page.get_by_role("button", name="Record the request").click()
    expect(page.get_by_role("alert")).to_contain_text("Refused (403)")
    form = page.get_by_role("form", name="Record a lawful request")
    expect(form.get_by_label("Reference (optional)")).to_have_value(reference)
    expect(form.get_by_label("Process type")).to_have_value("subpoena")
    assert not axe(page), axe(page)

    form.get_by_label("Organization ids (comma-separated)").fill(ORG_A)
    form.get_by_role("button", name="Record the request").click()
    expect(page.get_by_role("heading", name=f"Lawful request {reference}")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("request recorded")
    expect(page.locator("#history")).to_contain_text("received")
    expect(page.locator("#clocks")).to_contain_text("Respond by the return date")
    shot(page, "legal-intake-recorded")

    # A review may narrow production to some data categories; the page says which.
    details = page.locator("details.step", has=page.locator("summary", has_text="Legal review"))
    details.locator("summary").click()
    review = details.get_by_role("form")
    review.get_by_label("Outcome").select_option("narrow")
    review.get_by_label("Reason").fill("sign-in records only")
    review.get_by_label("Data categories (comma-separated)").fill("authentication_security")
    review.get_by_role("button", name="Record: review").click()
    expect(page.locator("#review")).to_contain_text("data categories authentication_security")

    page.goto(f"{console.url}/ui/disclosures")
    row = page.locator("tbody tr", has_text=reference)
    expect(row).to_contain_text("Example County Sheriff")
    expect(row).to_contain_text("open")

    # The same request again (same intake) is refused as recorded already.
    page.get_by_role("link", name="Record a request").click()
    _fill(page, reference, received, ORG_A)
    page.get_by_role("button", name="Record the request").click()
    expect(page.get_by_role("alert")).to_contain_text("Refused (409)")


def test_on_call_is_offered_no_intake(page: Page, console: Console, sign_in: SignIn) -> None:
    sign_in("oli", "oncall", ORG_A, next_path="/ui/incidents")
    response = page.goto(f"{console.url}/ui/disclosures/new")
    assert response is not None and response.status == 403
    assert page.get_by_role("form", name="Record a lawful request").count() == 0
