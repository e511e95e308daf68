"""The console in a real browser (Debian's chromium, driven by Playwright) over the
real broker and node.

``console`` (session scope): unique topics and indices; events of two
tenants ingested by the real consumer; detections, incidents and lawful
requests written through the real services (tests/integration/api_support.py
::seed); then ``create_app(settings)`` served by uvicorn on a free loopback
port, as ``audit serve`` does. ``page`` gives each test a fresh browser
profile; ``sign_in`` uses the development sign-in.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from elasticsearch import Elasticsearch
from playwright.sync_api import Page, sync_playwright
from pydantic import SecretStr

from audit.api.app import create_app
from audit.domain.disclosure import ProcessType
from audit.settings import Settings
from audit.wiring.incidents import build_disclosures
from tests.es_cleanup import drop_prefixed
from tests.integration.api_support import ORG_A, USER_A, Keys, api_settings, request_spec, seed
from tests.integration.conftest import RunningStack, stack  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("AUDIT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("AUDIT_SCREENSHOT_DIR", ROOT / ".cache" / "screenshots"))
LEGAL_NAMES = ("legal-ana", "legal-ben")


@dataclass
class Console:
    url: str
    settings: Settings
    data: dict[str, Any]
    es: Elasticsearch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def console(
    stack: RunningStack,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Console]:
    tag = uuid.uuid4().hex[:10]
    base, _ = api_settings(stack, tag, tmp_path_factory.mktemp("console"), Keys())
    settings = base.model_copy(
        update={
            "legal_principals": ",".join(f"dev:{n}" for n in LEGAL_NAMES),
            "ui_session_secret": SecretStr("browser-test-session-secret"),
            "api_upload_max_bytes": 16 * 1024 * 1024,
            "api_verify_inline_max_events": 100_000,
        }
    )
    es = Elasticsearch(stack.es_url, request_timeout=30)
    os.environ.pop("AUDIT_ENVIRONMENT", None)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    try:
        data = seed(settings, es)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the console did not start"
            time.sleep(0.1)
        yield Console(f"http://127.0.0.1:{port}", settings, data, es)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        drop_prefixed(es, f"t{tag}")
        es.close()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def page(playwright_driver: Any, tmp_path: Path) -> Iterator[Page]:
    """A fresh browser profile per test (its own cookies)."""
    profile = tmp_path / "profile"
    context = playwright_driver.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
    )
    try:
        yield context.pages[0] if context.pages else context.new_page()
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


SignIn = Callable[..., None]


@pytest.fixture
def sign_in(page: Page, console: Console) -> SignIn:
    def go(name: str, role: str, scope: str = "*", next_path: str = "/ui/incidents") -> None:
        page.goto(f"{console.url}/ui/sign-in?next={next_path}")
        page.get_by_label("Your name").fill(name)
        page.get_by_label("Role").select_option(role)
        page.get_by_label("Organization scope").fill(scope)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        assert "/ui/sign-in" not in page.url, page.content()[:2000]

    return go


def shot(page: Page, name: str, *, full: bool = True) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page (served by the app itself)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url="/ui/static/vendor/axe.min.js")
    result: dict[str, Any] = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def new_request(console: Console, *, mapped: bool = False) -> tuple[str, str]:
    """(id, reference) of a new subpoena for organization A, recorded by the real
    service as intake would; ``mapped``: also verified, accepted and mapped (to
    organization A's user A), so that approval and the other steps are offered."""
    reference = f"REF-{uuid.uuid4().hex[:8]}"
    service = build_disclosures(console.settings, console.es)
    now = datetime.now(UTC).replace(microsecond=0)
    spec = request_spec(ORG_A, reference, now).model_copy(
        update={"process_type": ProcessType.SUBPOENA}
    )
    rid = service.record(spec, now)[0].id
    if mapped:
        by = f"dev:{LEGAL_NAMES[0]}"
        service.verify(
            rid,
            contact_used="+1 555 0100",
            contact_source="court directory",
            confirmed=True,
            by=by,
            now=now,
        )
        service.review(rid, "accept", reason="valid on its face", by=by, now=now)
        service.map(
            rid,
            data_categories=["authentication_security"],
            organization_ids=[ORG_A],
            user_ids=[USER_A],
            by=by,
            now=now,
        )
    console.es.indices.refresh(index=console.settings.disclosure_index)
    return rid, reference


def open_all_details(page: Page) -> None:
    """Unfold every step form, so that axe checks each control (closed ones are not rendered)."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
