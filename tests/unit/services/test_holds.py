"""Legal holds: placed once, listed, released once with a logged reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audit.domain.legal.hold_requests import HoldRequest
from audit.errors import ConflictError, InvalidTransition, NotFound, StoreUnavailable
from audit.services.holds import HoldExists, HoldService, InvalidHold
from tests.fakes.retention import FakeHoldStore

AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def place(service: HoldService, hold_id: str = "case-1", **extra: Any):
    return service.create(
        organization_ids=["org_a"],
        by="legal@acme",
        reason="litigation",
        reference="CASE-1",
        at=AT,
        hold_id=hold_id,
        **extra,
    )


def test_a_placed_hold_is_stored_listed_as_active_and_logged() -> None:
    store = FakeHoldStore()
    service = HoldService(store)
    hold = place(service, user_ids=["usr_1"], end=AT + timedelta(days=1))
    assert store.get("case-1") == hold
    (listed,) = service.listing(AT + timedelta(hours=1))
    assert listed["id"] == "case-1" and listed["active"] is True
    assert [entry["action"] for entry in service.log("case-1")] == ["created"]


def test_placing_the_same_id_twice_is_refused_and_keeps_the_first() -> None:
    service = HoldService(FakeHoldStore())
    first = place(service)
    with pytest.raises(HoldExists):
        service.create(
            organization_ids=["org_b"],
            by="someone",
            reason="other",
            reference="X",
            at=AT,
            hold_id="case-1",
        )
    assert service.listing(AT)[0]["scope"]["organization_ids"] == list(first.scope.organization_ids)


def test_an_invalid_scope_is_refused_naming_the_field_and_nothing_is_stored() -> None:
    store = FakeHoldStore()
    with pytest.raises(InvalidHold, match="end must be after start"):
        place(HoldService(store), start=AT, end=AT - timedelta(days=1))
    with pytest.raises(InvalidHold, match="id"):
        place(HoldService(store), hold_id="Not Valid!")
    assert store.all() == []


def test_a_hold_requested_twice_is_placed_once() -> None:
    store = FakeHoldStore()
    service = HoldService(store)
    request = HoldRequest(
        hold_id="inc-123",
        source="incident inc-123",
        organization_ids=("org_a",),
        entities={"user.id": ("usr_1",)},
        requested_by="detector",
        reason="incident under investigation",
        requested_at=AT,
    )
    first = service.create_from_request(request)
    second = service.create_from_request(request)
    assert first == second
    assert len(store.all()) == 1
    assert first.scope.user_ids == ("usr_1",)


def test_release_needs_a_reason_and_happens_once() -> None:
    service = HoldService(FakeHoldStore())
    place(service)
    with pytest.raises(InvalidHold):
        service.release("case-1", "legal@acme", "  ", AT + timedelta(days=1))
    released = service.release("case-1", "legal@acme", "case closed", AT + timedelta(days=1))
    assert released.released_by == "legal@acme"
    assert service.listing(AT + timedelta(days=2))[0]["active"] is False
    with pytest.raises(InvalidTransition):
        service.release("case-1", "other", "again", AT + timedelta(days=3))
    assert [e["action"] for e in service.log("case-1")] == ["created", "released"]
    assert service.log("case-1")[1]["reason"] == "case closed"


def test_two_concurrent_releases_cannot_both_succeed() -> None:
    store = FakeHoldStore()
    service = HoldService(store)
    place(service)

    def other_release(document: dict[str, Any]) -> None:
        document["hold"]["released_by"] = "other@acme"
        document["hold"]["released_at"] = (AT + timedelta(hours=1)).isoformat()
        document["log"].append({"action": "released", "by": "other@acme"})

    store.docs.race("case-1", other_release)
    with pytest.raises(ConflictError, match="changed while being released"):
        service.release("case-1", "legal@acme", "closed", AT + timedelta(hours=2))
    assert store.get("case-1").released_by == "other@acme"
    assert len(store.log("case-1")) == 2


def test_unknown_holds_and_outages_surface_as_their_errors() -> None:
    store = FakeHoldStore()
    service = HoldService(store)
    with pytest.raises(NotFound):
        service.release("nope", "legal@acme", "reason", AT)
    store.docs.outages.down(1)
    with pytest.raises(StoreUnavailable):
        place(service)
    assert place(service).id == "case-1"  # nothing half-written by the failed call
