"""Legal places and releases a legal hold on the holds page, through the API's routes,
in a real browser over the real node."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.integration.api_support import ORG_A, ORG_B, USER_A

from .conftest import Console, SignIn, axe, shot

pytestmark = pytest.mark.integration


def _local(moment: datetime) -> str:
    """A datetime-local control's value (the form reads it as UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_legal_places_and_releases_a_hold(page: Page, console: Console, sign_in: SignIn) -> None:
    sign_in("lee", "legal", ORG_A, next_path="/ui/holds")
    expect(page.get_by_role("heading", name="Legal holds")).to_be_visible()
    reference = f"case-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    form = page.get_by_role("form", name="Place a hold")

    # A range that ends before it starts is refused on the page, the values kept.
    form.get_by_label("Organization ids").fill(ORG_A)
    form.get_by_label("User ids").fill(USER_A)
    form.get_by_label("Events from").fill(_local(now))
    form.get_by_label("Events until").fill(_local(now - timedelta(days=1)))
    form.get_by_label("Reason").fill("litigation hold for the named user")
    form.get_by_label("Reference").fill(reference)
    form.get_by_role("button", name="Place the hold").click()
    expect(page.get_by_role("alert")).to_contain_text("end must be after start")
    assert not axe(page), axe(page)
    form = page.get_by_role("form", name="Place a hold")
    expect(form.get_by_label("Reference")).to_have_value(reference)

    form.get_by_label("Events from").fill(_local(now - timedelta(days=30)))
    form.get_by_label("Events until").fill(_local(now + timedelta(days=1)))
    form.get_by_label("Expires at").fill(_local(now + timedelta(days=365)))
    form.get_by_role("button", name="Place the hold").click()
    expect(page.get_by_role("status")).to_contain_text("placed")
    row = page.locator("#holds tbody tr", has_text=reference)
    expect(row).to_contain_text("active")
    expect(row).to_contain_text(f"users {USER_A}")
    expect(row).to_contain_text("dev:lee")
    shot(page, "legal-holds-placed")

    row.get_by_label("Reason for releasing").fill("the matter settled")
    row.get_by_role("button", name="Release").click()
    expect(page.get_by_role("status")).to_contain_text("released")
    row = page.locator("#holds tbody tr", has_text=reference)
    expect(row).to_contain_text("released by dev:lee")
    assert row.get_by_role("button", name="Release").count() == 0

    # Another organization is not this principal's to hold.
    form = page.get_by_role("form", name="Place a hold")
    form.get_by_label("Organization ids").fill(ORG_B)
    form.get_by_label("Reason").fill("not mine")
    form.get_by_label("Reference").fill(f"{reference}-b")
    form.get_by_role("button", name="Place the hold").click()
    expect(page.get_by_role("alert")).to_contain_text("Refused (403)")
