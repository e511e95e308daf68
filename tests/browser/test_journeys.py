"""The journeys of the console's four kinds of users, in a real browser over seeded data."""

from __future__ import annotations

import io
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.integration.api_support import IP_AB, NOW, ORG_A, ORG_B, USER_A

from .conftest import LEGAL_NAMES, Console, SignIn, shot

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


def test_legal_decides_and_two_principals_approve(
    page: Page, console: Console, sign_in: SignIn
) -> None:
    ana, ben = LEGAL_NAMES
    sign_in(ana, "legal")
    page.goto(f"{console.url}/ui/incidents/{console.data['incidents']['a']}")
    item = page.locator("article.item", has=page.get_by_role("button", name="Record decision"))
    first = item.first
    first.get_by_label("Reasons").fill("customer e-mail addresses were read")
    first.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status")).to_contain_text("recorded")
    expect(page.locator("article.item dd", has_text=f"by dev:{ana}").first).to_be_visible()

    page.goto(f"{console.url}/ui/disclosures")
    page.get_by_role("link", name=f"REF-{ORG_A}").click()
    shot(page, "lawful-request")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#approvals")).to_contain_text("1 of 2")
    page.get_by_role("button", name="Approve").click()  # the same principal again
    expect(page.get_by_role("alert")).to_contain_text("already approved")
    page.get_by_role("link", name="Back to the console").click()

    sign_in(ben, "legal", next_path=f"/ui/disclosures/{console.data['disclosures'][ORG_A]}")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#approvals")).to_contain_text("2 of 2")
    expect(page.locator("#approvals")).to_contain_text(f"dev:{ana}")
    expect(page.locator("#approvals")).to_contain_text(f"dev:{ben}")


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
