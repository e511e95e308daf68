"""DisclosureService.listing: legal's inbox order (open first, nearest clock first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from audit.adapters.bundled_data import load_checklist_template
from audit.domain.checklists import AttributesConfig
from audit.services.disclosures import DisclosureService, RequestFile, nearest_clock
from tests.unit.disclosure.fakes import MemoryDisclosureStore, MemoryHolds
from tests.unit.disclosure.specs import request_file

R0 = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
D = timedelta(days=1)


def _spec(ref: str, process: str, received: datetime, return_date: datetime | None) -> RequestFile:
    return request_file(ref, process, received, return_date)


def test_open_requests_come_first_by_their_nearest_clock() -> None:
    service = DisclosureService(
        MemoryDisclosureStore(),
        load_checklist_template("lawful_request.v1"),
        AttributesConfig(version=1),
        ["legal1", "legal2"],
        holds=MemoryHolds(),
    )
    ids = {}
    # subpoena due in 30 days; EU production order due 10 days after receipt;
    # preservation ends 90 days after receipt; a subpoena with no return date.
    for ref, process, received, due in (
        ("late", "subpoena", R0, R0 + 30 * D),
        ("soon", "eu_production_order", R0 + D, None),
        ("far", "preservation", R0, None),
        ("none-old", "subpoena", R0 - 5 * D, None),
        ("none-new", "subpoena", R0, None),
        ("closed-first", "subpoena", R0, R0 + D),
        ("closed-later", "subpoena", R0 - D, R0 + D),
    ):
        ids[ref] = service.record(_spec(ref, process, received, due), R0)[0].id
    service.close(ids["closed-first"], "withdrawn", by="legal1", now=R0 + D)
    service.close(ids["closed-later"], "withdrawn", by="legal1", now=R0 + 2 * D)

    order = [r.intake.reference for r in service.listing()]

    assert order == [
        "soon",  # R0 + 11 days
        "late",  # R0 + 30 days
        "far",  # R0 + 90 days
        "none-old",
        "none-new",
        "closed-later",
        "closed-first",
    ]
    soon = service.get(ids["soon"])
    assert nearest_clock(soon) == R0 + D + 10 * D
    assert nearest_clock(service.get(ids["none-new"])) is None
