"""axe-core (served by the app, pinned from npm at setup) on every page of the console:
no serious or critical violation. Also keyboard reachability and visible focus."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.integration.api_support import ORG_A, USER_A

from .conftest import Console, SignIn, axe, new_request, open_all_details, shot

pytestmark = pytest.mark.integration


def _pages(console: Console) -> list[tuple[str, str, str, str]]:
    """(role, scope, path, screenshot name) for every page of the console; a lawful
    request both as received (verify, review, map forms) and mapped (approval, the
    amending and other steps, with nested groups of fields and times)."""
    data = console.data
    mapped, _ = new_request(console, mapped=True)
    return [
        ("oncall", "*", "/ui/incidents", "a11y-incidents"),
        ("oncall", "*", f"/ui/incidents/{data['incidents']['a']}", "a11y-incident"),
        ("oncall", "*", "/ui/detections", "detections"),
        ("oncall", "*", f"/ui/events?user_id={USER_A}", "a11y-events"),
        ("oncall", "*", f"/ui/timeline?entity=user&value={USER_A}", "a11y-timeline"),
        ("legal", "*", "/ui/disclosures", "lawful-requests"),
        ("legal", "*", f"/ui/disclosures/{data['disclosures'][ORG_A]}", "a11y-request"),
        ("legal", "*", f"/ui/disclosures/{mapped}", "a11y-request-mapped"),
        ("legal", "*", "/ui/disclosures/report", "transparency-report"),
        ("legal", "*", "/ui/disclosures/new", "legal-intake"),
        ("legal", "*", "/ui/holds", "legal-holds"),
        ("compliance", ORG_A, "/ui/exports", "exports"),
        ("compliance", ORG_A, f"/ui/verify?organization_id={ORG_A}", "verify-trail"),
        ("admin", ORG_A, f"/ui/orgs/{ORG_A}", "a11y-organization"),
        ("admin", ORG_A, f"/ui/orgs/{ORG_A}x", "a11y-refused"),
    ]


def test_every_page_passes_axe(page: Page, console: Console, sign_in: SignIn) -> None:
    found = {}
    signed_as = None
    for role, scope, path, name in _pages(console):
        if signed_as != (role, scope):
            sign_in(f"a11y-{role}", role, scope)
            signed_as = (role, scope)
        page.goto(console.url + path)
        assert page.locator("main h1").count() == 1, path
        open_all_details(page)  # every step form's controls are checked, not just the first
        shot(page, name)
        violations = axe(page)
        if violations:
            found[path] = violations
    assert found == {}


def test_a_request_page_offers_its_steps_as_labelled_forms(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    """Every control of every step form has a label; the mapped request offers approval."""
    mapped, _ = new_request(console, mapped=True)
    sign_in("a11y-legal", "legal")
    page.goto(f"{console.url}/ui/disclosures/{mapped}")
    open_all_details(page)
    assert page.get_by_role("button", name="Approve").count() == 1
    forms = page.locator("details.step form")
    assert forms.count() >= 5  # produce waits; review, map, ndo, notice, preserve are open
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('details.step form :is(input, select, textarea)')]
            .filter(c => c.type !== 'hidden' && !(c.labels && c.labels.length))
            .map(c => c.name)"""
    )
    assert unlabelled == []
    group = page.locator("details.step fieldset legend", has_text="Limits")
    assert group.count() >= 1
    assert page.locator("details.step input[type=datetime-local]").count() >= 4


def test_keyboard_reaches_the_forms_with_a_visible_focus(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    sign_in("kim", "oncall")
    page.goto(f"{console.url}/ui/incidents/{console.data['incidents']['b']}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "a-assignee":
            break
    else:
        pytest.fail("the assignee field is not reachable with the keyboard")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
