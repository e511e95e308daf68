"""An organization administrator's exports on their organization's page: started,
listed with state, size and created time, downloaded; another organization's export
is out of reach by link and by editing the id in the address."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from audit.services.bundle import verify_bundle
from tests.integration.api_support import ORG_A, ORG_B

from .conftest import Console, SignIn, axe, shot

pytestmark = pytest.mark.integration


def _export_from_org_page(page: Page, console: Console, org: str, purpose: str) -> str:
    """Start an export on the organization's page; its job id once it has finished."""
    page.goto(f"{console.url}/ui/orgs/{org}")
    page.get_by_label("Purpose").fill(purpose)
    page.get_by_role("button", name="Start the export").click()
    expect(page.locator("progress#bar")).to_be_attached()
    expect(page.locator("#download")).to_be_visible(timeout=60_000)  # the page polls the job
    found = re.search(r"/ui/exports/([^/?#]+)$", page.url)
    assert found, page.url
    return found.group(1)


def test_org_admin_exports_lists_downloads_and_reaches_no_other_orgs_export(
    page: Page, console: Console, sign_in: SignIn, tmp_path: Path
) -> None:
    sign_in("bea", "admin", ORG_B)
    job_b = _export_from_org_page(page, console, ORG_B, "org B's own copy")

    sign_in("olga", "admin", ORG_A)
    page.goto(f"{console.url}/ui/orgs/{ORG_A}")
    assert job_b not in page.content()
    job_a = _export_from_org_page(page, console, ORG_A, "our yearly audit")
    expect(page.locator("#export-state")).to_contain_text("30 events written")
    assert axe(page) == []  # the export's own page, as an organization administrator

    page.get_by_role("link", name=f"Organization {ORG_A}: its exports").click()
    row = page.locator(f"#export-list tr[data-job='{job_a}']")
    expect(row).to_contain_text("succeeded")
    expect(row).to_contain_text(re.compile(r"[\d,]+ bytes, 30 events"))
    expect(row.locator("time").first).to_contain_text("UTC")
    assert page.locator("#export-list tbody tr").count() >= 1
    assert job_b not in page.content() and ORG_B not in page.locator("main").inner_text()
    assert axe(page) == []
    shot(page, "organization-exports")
    with page.expect_download() as info:
        row.get_by_role("link", name=f"Download {job_a} as .tar.gz").click()
    archive = tmp_path / "bundle.tar.gz"
    info.value.save_as(archive)
    with tarfile.open(archive, mode="r:gz") as tar:
        tar.extractall(tmp_path / "bundle", filter="data")
    assert verify_bundle(tmp_path / "bundle") == []

    # Organization B's export, by link or by its id edited into the address: refused,
    # as a missing one is.
    for path in (f"/ui/exports/{job_b}", f"/ui/exports/{job_b}/progress"):
        page.goto(console.url + path)
        expect(page.get_by_role("alert")).to_contain_text("Refused (403)")
        assert ORG_B not in page.locator("main").inner_text().replace(path, "")
    for path in (f"/ui/exports/{job_b}/bundle", f"/ui/exports/{job_b}/bundle?archive=zip"):
        response = page.request.get(console.url + path)
        assert response.status == 403, path
        assert b"PK" not in response.body()[:2] and response.body()[:2] != b"\x1f\x8b"
    missing = page.request.get(f"{console.url}/ui/exports/export-nope")
    refused = page.request.get(f"{console.url}/ui/exports/{job_b}")
    assert missing.status == refused.status == 403
