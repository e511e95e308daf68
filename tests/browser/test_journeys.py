"""The journeys of the console's four kinds of users, in a real browser over seeded data."""

from __future__ import annotations

import io
import re
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.integration.api_support import IP_AB, NOW, ORG_A, ORG_B, USER_A

from .conftest import LEGAL_NAMES, Console, SignIn, axe, new_request, shot

pytestmark = pytest.mark.integration


def test_oncall_triages_the_highest_severity_incident(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    sign_in("sam", "oncall")
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    shot(page, "incidents-queue")
    critical = page.locator("#queue-body tr", has=page.locator(".sev-critical")).first
    critical.get_by_role("link").first.click()
    incident = console.data["incidents"]["ab"]
    assert page.url.endswith(f"/ui/incidents/{incident}")
    expect(page.locator("#incident-status")).to_have_text("open")
    expect(page.locator(".chart canvas").first).to_be_attached()  # uPlot drew the timeline
    shot(page, "incident")
    shot(page, "incident-top", full=False)

    page.get_by_role("link", name=IP_AB).click()
    expect(page.get_by_role("heading", name=f"Timeline of ip {IP_AB}")).to_be_visible()
    expect(page.locator(f"a[href='/ui/incidents/{incident}']")).to_be_visible()
    page.go_back()

    page.get_by_label("Assignee").fill("sam")
    page.get_by_role("button", name="Assign").click()
    expect(page.locator("#incident-assignee")).to_have_text("sam")
    page.get_by_label("Comment").fill("brute force from one address; blocking it")
    page.get_by_role("button", name="Add comment").click()
    expect(page.get_by_role("status")).to_contain_text("comment added")
    for status in ("acknowledged", "investigating", "contained", "resolved"):
        page.get_by_label("Move to").select_option(status)
        page.get_by_role("button", name="Change status").click()
        expect(page.locator("#incident-status")).to_have_text(status)
    expect(page.locator(".history")).to_contain_text("sam")
    # The queue's live refresh (the rows partial the page polls) drops it from the active list.
    active = page.request.get(f"{console.url}/ui/incidents/rows").text()
    assert "<html" not in active and "<tr>" in active and incident not in active
    resolved = page.request.get(f"{console.url}/ui/incidents/rows?status=resolved").text()
    assert incident in resolved


def test_oncall_follows_an_entity_to_its_events(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    sign_in("sam", "oncall")
    page.goto(f"{console.url}/ui/incidents/{console.data['incidents']['a']}")
    page.get_by_role("link", name=USER_A).first.click()
    expect(page.get_by_role("heading", name=f"Timeline of user {USER_A}")).to_be_visible()
    assert page.locator("table.events tbody tr").count() == 30
    shot(page, "timeline")


def test_event_search_filters_and_pages(page: Page, console: Console, sign_in: SignIn) -> None:
    sign_in("carol", "compliance", ORG_A)
    page.goto(f"{console.url}/ui/events")
    page.get_by_label("User id").fill(USER_A)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.events caption")).to_have_text("30 events shown")
    page.goto(f"{console.url}/ui/events?user_id={USER_A}&limit=20")
    expect(page.locator("table.events caption")).to_have_text("20 events shown")
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("table.events caption")).to_have_text("10 events shown")
    shot(page, "event-search")
    # Another organization's events are not this principal's to search.
    page.goto(f"{console.url}/ui/events?organization_id={ORG_B}")
    expect(page.get_by_role("alert")).to_contain_text("Refused (403)")


def _step_form(page: Page, title: str) -> Locator:
    """A step's form on a request's page, unfolded (the first next step comes unfolded)."""
    details = page.locator("details.step", has=page.locator("summary", has_text=title))
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return details.get_by_role("form", name=title)


def test_legal_decides_and_two_principals_approve(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    """Legal decides a checklist item with reasons, then carries a lawful request through
    the workflow's real steps on its page: verification (the callback), review (narrowed
    to one user), data mapping, two approvals by distinct principals (the same one twice
    refused on the page), a non-disclosure order, production (the bundle's digest shown)
    and closure. Each refusal is an alert with the workflow's message."""
    ana, ben = LEGAL_NAMES
    sign_in(ana, "legal")
    page.goto(f"{console.url}/ui/incidents/{console.data['incidents']['a']}")
    item = page.locator("article.item", has=page.get_by_role("button", name="Record decision"))
    first = item.first
    first.get_by_label("Reasons").fill("customer e-mail addresses were read")
    first.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status")).to_contain_text("recorded")
    expect(page.locator("article.item dd", has_text=f"by dev:{ana}").first).to_be_visible()

    rid, reference = new_request(console)
    page.goto(f"{console.url}/ui/disclosures")
    page.get_by_role("link", name=reference).click()
    assert page.url.endswith(f"/ui/disclosures/{rid}")
    expect(page.locator("#history")).to_contain_text("received")
    expect(page.get_by_role("heading", name="Clocks")).to_be_visible()
    steps = page.locator("#next-steps")
    expect(steps).to_contain_text("Approve (after: map data)")
    expect(steps).to_contain_text("Produce (after: verify, review, map data, approve)")
    assert page.get_by_role("button", name="Approve").count() == 0

    # Verification: a contact taken from the request itself is refused, in place.
    verify = _step_form(page, "Record the out-of-band verification")
    verify.get_by_label("Contact used").fill("+1 555 0100")
    verify.get_by_label("Contact source").fill("requester")
    verify.get_by_label("Confirmed").select_option("yes")
    verify.get_by_role("button", name="Record: verify").click()
    expect(page.get_by_role("alert")).to_contain_text("independently sourced contact")
    assert not axe(page), axe(page)  # the refused page, its alert and kept values
    verify = page.get_by_role("form", name="Record the out-of-band verification")
    expect(verify.get_by_label("Contact used")).to_have_value("+1 555 0100")
    verify.get_by_label("Contact source").fill("court clerk's office, official directory")
    verify.get_by_label("Confirmed").select_option("yes")
    verify.get_by_role("button", name="Record: verify").click()
    expect(page.get_by_role("status")).to_contain_text("verify recorded")
    expect(page.locator("#verification")).to_contain_text("confirmed by callback")

    # Legal review narrows production to user A's last 30 days (a nested group of fields).
    review = _step_form(page, "Legal review of the scope")
    review.get_by_label("Outcome").select_option("narrow")
    review.get_by_label("Reason").fill("only the named user's logins are relevant")
    review.get_by_label("User ids (comma-separated)").fill(USER_A)
    since = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S")
    review.get_by_label("Time from (UTC)").fill(since)
    review.get_by_role("button", name="Record: review").click()
    expect(page.get_by_role("status")).to_contain_text("review recorded")
    expect(page.locator("#review")).to_contain_text("narrow")
    expect(page.locator("#review")).to_contain_text(USER_A)

    mapping = _step_form(page, "Map the data")
    mapping.get_by_label("Data categories (comma-separated)").fill("authentication_security")
    mapping.get_by_label("Organization ids (comma-separated)").fill(ORG_A)
    mapping.get_by_label("User ids (comma-separated)").fill(USER_A)
    mapping.get_by_role("button", name="Record: map data").click()
    expect(page.get_by_role("status")).to_contain_text("map data recorded")
    expect(page.locator("#mapping")).to_contain_text(f"authentication_security of {ORG_A}")

    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#approvals")).to_contain_text("1 of 2")
    page.get_by_role("button", name="Approve").click()  # the same principal again
    expect(page.get_by_role("alert")).to_contain_text("already approved")
    expect(page.locator("#approvals")).to_contain_text("1 of 2")
    shot(page, "lawful-request-refused")

    sign_in(ben, "legal", next_path=f"/ui/disclosures/{rid}")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#approvals")).to_contain_text("2 of 2")
    expect(page.locator("#approvals")).to_contain_text(f"dev:{ana}")
    expect(page.locator("#approvals")).to_contain_text(f"dev:{ben}")

    # Production is next; without a notice period served (or an order barring notice),
    # the workflow refuses it.
    page.get_by_role("button", name="Record: produce").click()
    expect(page.get_by_role("alert")).to_contain_text("notify the customer first")
    ndo = _step_form(page, "Record a non-disclosure order")
    until = (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%S")
    ndo.get_by_label("Expires at (UTC) (optional)").fill(until)
    ndo.get_by_label("Reference (optional)").fill("18 U.S.C. 2705(b) order 24-17")
    ndo.get_by_label("Issuer (optional)").fill("District Court")
    ndo.get_by_role("button", name="Record: ndo").click()
    expect(page.get_by_role("status")).to_contain_text("ndo recorded")
    expect(page.locator("#ndo")).to_contain_text("2705(b) order 24-17")
    # The notice's clock now runs to the order's expiry.
    expect(page.locator("#clocks")).to_contain_text("Notify the customer when the non-disclosure")
    shot(page, "lawful-request")

    page.get_by_role("button", name="Record: produce").click()
    expect(page.get_by_role("status")).to_contain_text("produce recorded")
    production = page.locator("#production")
    expect(production).to_contain_text(f"{ORG_A}: bundle {rid}-{ORG_A}, 30 events")
    digest = production.locator("code.digest").first.inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", digest), digest
    shot(page, "lawful-request-produced")
    shot(page, "lawful-request-top", full=False)

    closing = _step_form(page, "Close the request")
    closing.get_by_label("Outcome").select_option("disclosed")
    closing.get_by_label("Why (optional)").fill(
        "produced under the order; notice follows its expiry"
    )
    closing.get_by_role("button", name="Record: close").click()
    expect(page.locator("#request-state")).to_contain_text("closed (disclosed)")
    expect(page.locator("#next-steps")).to_have_text("None: the request is closed.")
    history = page.locator("#history")
    for action in ("verified", "reviewed", "data mapped", "approved", "ndo recorded"):
        expect(history).to_contain_text(action)
    expect(history).to_contain_text("produced")
    expect(history).to_contain_text("closed")
    assert not axe(page), axe(page)


def _tampered(archive: Path) -> bytes:
    """The same bundle with one event line changed."""
    out = io.BytesIO()
    with tarfile.open(archive) as source, tarfile.open(fileobj=out, mode="w:gz") as target:
        changed = False
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if data is not None and not changed and member.name.endswith(".ndjson"):
                data = data.replace(b"user.login", b"user.logon", 1)
                changed = data != source.extractfile(member).read()  # type: ignore[union-attr]
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
        assert changed, "no event line to change"
    return out.getvalue()


def test_compliance_exports_downloads_and_verifies(
    page: Page, console: Console, sign_in: SignIn, tmp_path: Path
) -> None:
    sign_in("carol", "compliance", ORG_A)
    page.goto(f"{console.url}/ui/exports")
    page.get_by_label("Organization", exact=True).fill(ORG_A)
    page.get_by_label("User ids").fill(USER_A)
    page.get_by_label("Since").fill((NOW - timedelta(days=30)).isoformat())
    page.get_by_label("Until").fill((NOW + timedelta(hours=1)).isoformat())
    page.get_by_label("Purpose").fill("customer audit request")
    page.get_by_role("button", name="Start the export").click()
    expect(page.locator("progress#bar")).to_be_attached()
    download_link = page.locator("#download")
    expect(download_link).to_be_visible(timeout=60_000)  # the page polls the job
    expect(page.locator("progress#bar")).to_have_attribute("value", "100")
    expect(page.locator("#export-state")).to_contain_text("30 events written")
    shot(page, "export-finished")
    with page.expect_download() as info:
        download_link.click()
    archive = tmp_path / "bundle.tar.gz"
    info.value.save_as(archive)

    page.goto(f"{console.url}/ui/exports")
    page.get_by_label("Bundle archive").set_input_files(str(archive))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#verdict")).to_contain_text("Verified")
    shot(page, "bundle-verified")

    edited = tmp_path / "edited.tar.gz"
    edited.write_bytes(_tampered(archive))
    page.goto(f"{console.url}/ui/exports")
    page.get_by_label("Bundle archive").set_input_files(str(edited))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#verdict")).to_contain_text("Verification failed")


def test_org_admin_changes_retention_and_reaches_no_other_org(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    sign_in("olga", "admin", ORG_A)
    page.get_by_role("link", name=f"Organization {ORG_A}").click()
    expect(page.get_by_role("heading", name=f"Organization {ORG_A}")).to_be_visible()
    page.get_by_label("New class").select_option("extended")
    page.get_by_label("Reason").fill("contract requires two years")
    page.get_by_role("button", name="Change the class").click()
    expect(page.locator("#current-class")).to_have_text("extended")
    shot(page, "organization")
    assert page.get_by_role("link", name=f"Organization {ORG_B}").count() == 0
    # Editing ids in the address: another organization's page, incident, request.
    for path in (
        f"/ui/orgs/{ORG_B}",
        f"/ui/incidents/{console.data['incidents']['b']}",
        f"/ui/events?organization_id={ORG_B}",
    ):
        page.goto(console.url + path)
        expect(page.get_by_role("alert")).to_contain_text("Refused (403)")
        assert ORG_B not in page.locator("main").inner_text().replace(path, "")
