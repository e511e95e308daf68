from datetime import UTC, datetime, timedelta

import pytest

from audit.adapters.bundled_data import load_checklist_template
from audit.domain.checklists import ItemStatus
from audit.domain.disclosure import (
    Channel,
    DisclosureRefused,
    Intake,
    NoticeMode,
    Outcome,
    approve,
    clocks,
    close,
    evaluate_request_checklist,
    map_data,
    next_steps,
    notice_plan,
    produce,
    receive,
    record_ndo,
    record_redirect,
    renew_preservation,
    review,
    send_customer_notice,
    transparency_report,
    verify,
)

R0 = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
D = timedelta(days=1)
SHA = "a" * 64
TEMPLATE = load_checklist_template("lawful_request.v1")


def intake(**kw):
    data = {
        "authority": "Example County Sheriff",
        "agent": "Det. R. Diaz",
        "channel": Channel.PORTAL,
        "received_at": R0,
        "reference": kw.pop("reference", "2026-CR-114"),
        "organization_ids": ("org_a",),
        "requested_data": "login records of usr_19c2, April 2026",
    }
    data.update(kw)
    return Intake.model_validate(data)


def ready(process="subpoena", categories=("authentication_security",), **kw):
    request, _ = receive(intake(**kw), process, by="legal1", at=R0)
    request = verify(
        request,
        contact_used="+1 555 0100",
        contact_source="county website",
        confirmed=True,
        by="legal1",
        at=R0 + timedelta(hours=2),
    )
    request = review(request, "accept", reason="valid process", by="legal1", at=R0 + D / 2)
    return map_data(
        request, data_categories=categories, organization_ids=["org_a"], by="eng", at=R0 + D
    )


def test_preservation_returns_a_hold_request_and_its_90_day_clock() -> None:
    request, hold = receive(intake(), "preservation", by="legal1", at=R0)
    assert hold is not None
    assert request.hold_id == hold.hold_id
    assert hold.source == f"disclosure:{request.id}"
    assert hold.organization_ids == ("org_a",)
    assert hold.expires_at == R0 + 90 * D
    assert clocks(request).preservation_expires_at == R0 + 90 * D
    renewed = renew_preservation(request, by="legal1", at=R0 + 80 * D, why="agent asked")
    assert clocks(renewed).preservation_expires_at == R0 + 180 * D
    with pytest.raises(DisclosureRefused, match="renewed once"):
        renew_preservation(renewed, by="legal1", at=R0 + 170 * D, why="again")
    states = {s.item_id: s for s in evaluate_request_checklist(TEMPLATE, renewed, now=R0 + 100 * D)}
    assert states["preservation_hold"].status is ItemStatus.DONE
    assert states["preservation_expiry"].due_at == R0 + 180 * D


def test_other_processes_request_no_hold() -> None:
    _, hold = receive(intake(), "subpoena", by="legal1", at=R0)
    assert hold is None


@pytest.mark.parametrize(
    ("process", "kw", "field", "expected"),
    [
        ("eu_production_order", {}, "response_due_at", R0 + 10 * D),
        ("eu_production_order", {"emergency": True}, "response_due_at", R0 + timedelta(hours=8)),
        ("eu_preservation_order", {}, "preservation_expires_at", R0 + 60 * D),
        # 18 U.S.C. 2703(h)(2)(A): a non-US person not residing in the US AND a
        # material risk of violating a qualifying foreign government's law.
        (
            "cloud_act",
            {"customer_non_us_person": True, "foreign_law_conflict": True},
            "motion_to_quash_due_at",
            R0 + 14 * D,
        ),
        ("cloud_act", {"customer_non_us_person": True}, "motion_to_quash_due_at", None),
        ("cloud_act", {"foreign_law_conflict": True}, "motion_to_quash_due_at", None),
        # where the data is stored is not the trigger
        ("cloud_act", {"data_held_abroad": True}, "motion_to_quash_due_at", None),
        ("cloud_act", {}, "motion_to_quash_due_at", None),
    ],
)
def test_process_clocks(process, kw, field, expected) -> None:
    request, _ = receive(intake(**kw), process, by="legal1", at=R0)
    assert getattr(clocks(request), field) == expected


def test_eu_preservation_ends_at_60_days_unless_a_production_order_is_confirmed() -> None:
    # Reg. (EU) 2023/1543 Art. 11(1): 60 days, continued only on confirmation that a
    # production order was issued; no extension otherwise.
    request, _ = receive(intake(), "eu_preservation_order", by="legal1", at=R0)
    assert clocks(request).preservation_expires_at == R0 + 60 * D
    with pytest.raises(DisclosureRefused, match="production order"):
        renew_preservation(request, by="legal1", at=R0 + 50 * D, why="asked")
    confirmed = renew_preservation(
        request, by="legal1", at=R0 + 50 * D, why="authority confirms", production_order="EPOC-7"
    )
    assert clocks(confirmed).preservation_expires_at is None
    with pytest.raises(DisclosureRefused, match="lapsed"):
        renew_preservation(request, by="legal1", at=R0 + 60 * D, why="late", production_order="x")


def test_verification_must_use_an_independent_contact() -> None:
    request, _ = receive(intake(), "subpoena", by="legal1", at=R0)
    with pytest.raises(DisclosureRefused, match="independently sourced"):
        verify(request, contact_used="x", contact_source="request", confirmed=True, by="l", at=R0)


def test_customer_content_requests_start_with_the_redirect() -> None:
    request = ready(categories=("customer_content",))
    assert next_steps(request) == ("redirect_to_customer",)
    states = {s.item_id: s for s in evaluate_request_checklist(TEMPLATE, request, now=R0 + D)}
    assert states["redirect_to_customer"].status is ItemStatus.PENDING
    request = approve(request, principal="legal1", roles=["legal"], at=R0 + D)
    request = approve(request, principal="legal2", roles=["legal"], at=R0 + D)
    with pytest.raises(DisclosureRefused, match="redirect_to_customer"):
        produce(request, bundle_id="b1", manifest_sha256=SHA, by="eng", at=R0 + 20 * D)
    redirected = record_redirect(request, "customer_will_respond", by="legal1", at=R0 + 2 * D)
    states = {
        s.item_id: s for s in evaluate_request_checklist(TEMPLATE, redirected, now=R0 + 2 * D)
    }
    assert states["redirect_to_customer"].status is ItemStatus.DONE
    closed = close(redirected, Outcome.REDIRECTED, by="legal1", at=R0 + 3 * D)
    assert closed.outcome is Outcome.REDIRECTED


def test_non_customer_content_needs_no_redirect() -> None:
    request = ready()
    assert next_steps(request) == ("approve", "produce", "close")
    with pytest.raises(DisclosureRefused, match="customer content only"):
        record_redirect(request, "customer_will_respond", by="l", at=R0)


def test_a_single_approver_cannot_approve_twice() -> None:
    request = ready()
    once = approve(request, principal="legal1", roles=["legal"], at=R0 + D)
    with pytest.raises(DisclosureRefused, match="already approved"):
        approve(once, principal="legal1", roles=["legal"], at=R0 + 2 * D)
    assert not once.approved
    with pytest.raises(DisclosureRefused, match="not a legal principal"):
        approve(once, principal="eng1", roles=["engineer"], at=R0 + D)
    twice = approve(once, principal="legal2", roles=["legal", "admin"], at=R0 + D)
    assert twice.approved


def test_ndo_defers_the_customer_notice_to_its_expiry() -> None:
    expiry = R0 + 180 * D
    request = record_ndo(ready(), expires_at=expiry, by="legal1", at=R0 + D, reference="2705(b)")
    plan = notice_plan(request)
    assert plan.mode is NoticeMode.DEFERRED
    assert plan.scheduled_at == expiry
    with pytest.raises(DisclosureRefused, match="bars notice"):
        send_customer_notice(request, by="legal1", at=expiry - D)
    request = approve(request, principal="legal1", roles=["legal"], at=R0 + D)
    request = approve(request, principal="legal2", roles=["legal"], at=R0 + D)
    produced = produce(request, bundle_id="bundle-9", manifest_sha256=SHA, by="eng", at=R0 + 2 * D)
    assert produced.production.manifest_sha256 == SHA
    states = {s.item_id: s for s in evaluate_request_checklist(TEMPLATE, produced, now=R0 + 3 * D)}
    assert states["deferred_customer_notice"].due_at == expiry
    assert states["customer_notice"].applicable is False
    notified = send_customer_notice(produced, by="legal1", at=expiry)
    assert notified.customer_notice.sent_at == expiry


def test_without_ndo_the_customer_is_told_7_days_before_disclosure() -> None:
    request = ready()
    request = approve(request, principal="legal1", roles=["legal"], at=R0 + D)
    request = approve(request, principal="legal2", roles=["legal"], at=R0 + D)
    with pytest.raises(DisclosureRefused, match="notify the customer first"):
        produce(request, bundle_id="b", manifest_sha256=SHA, by="eng", at=R0 + 2 * D)
    request = send_customer_notice(request, by="legal1", at=R0 + 2 * D)
    assert notice_plan(request).earliest_disclosure_at == R0 + 9 * D
    with pytest.raises(DisclosureRefused, match="notice period runs until"):
        produce(request, bundle_id="b", manifest_sha256=SHA, by="eng", at=R0 + 8 * D)
    done = produce(request, bundle_id="b", manifest_sha256=SHA, by="eng", at=R0 + 9 * D)
    assert done.production.bundle_id == "b"


def test_emergency_disclosure_defers_notice_until_after_production() -> None:
    request = ready("emergency")
    request = approve(request, principal="legal1", roles=["legal"], at=R0)
    request = approve(request, principal="legal2", roles=["legal"], at=R0)
    produced = produce(request, bundle_id="b", manifest_sha256=SHA, by="eng", at=R0 + D)
    plan = notice_plan(produced)
    assert plan.mode is NoticeMode.DEFERRED and plan.scheduled_at == R0 + D


def test_transparency_counts_by_process_type_and_outcome() -> None:
    a = close(ready(reference="a"), "rejected", by="l", at=R0 + D)
    b = close(ready(reference="b"), "no_data", by="l", at=R0 + D)
    c, _ = receive(intake(reference="c"), "preservation", by="l", at=R0)
    c = close(c, "preserved_only", by="l", at=R0 + D)
    d = ready(reference="d")  # still open
    old, _ = receive(intake(reference="old", received_at=R0 - 365 * D), "warrant", by="l", at=R0)
    report = transparency_report([a, b, c, d, old], 2026)
    assert report.total == 4
    assert report.by_process_type == {"preservation": 1, "subpoena": 3}
    assert report.by_outcome == {"no_data": 1, "open": 1, "preserved_only": 1, "rejected": 1}
    assert report.by_process_type_and_outcome["subpoena"] == {
        "no_data": 1,
        "open": 1,
        "rejected": 1,
    }
    assert transparency_report([a, b, c, d, old], 2025).by_process_type == {"warrant": 1}


def test_closed_request_refuses_further_steps_and_disclosed_needs_production() -> None:
    request = ready()
    with pytest.raises(DisclosureRefused, match="needs a production"):
        close(request, "disclosed", by="l", at=R0)
    closed = close(request, "withdrawn", by="l", at=R0 + D)
    with pytest.raises(DisclosureRefused, match="closed"):
        approve(closed, principal="legal1", roles=["legal"], at=R0 + 2 * D)
    assert [h.action for h in closed.history] == [
        "received",
        "verified",
        "reviewed",
        "data_mapped",
        "closed",
    ]


def test_narrowing_cannot_add_organizations_and_approvals_bind_to_the_scope() -> None:
    from audit.domain.disclosure import ScopeLimits

    request = ready()
    with pytest.raises(DisclosureRefused, match="cannot add organizations"):
        review(
            request,
            "narrow",
            reason="x",
            limits=ScopeLimits(organization_ids=("org_zzz",)),
            by="legal1",
            at=R0 + D,
        )
    approved = approve(request, principal="legal1", roles=["legal"], at=R0 + D)
    approved = approve(approved, principal="legal2", roles=["legal"], at=R0 + D)
    assert approved.approved
    remapped = map_data(
        approved, data_categories=["account"], organization_ids=["org_a"], by="e", at=R0 + 2 * D
    )
    assert not remapped.approved  # the account data was not what they approved
    # the same principal may approve the new scope
    again = approve(remapped, principal="legal1", roles=["legal"], at=R0 + 2 * D)
    assert not again.approved


def test_disjoint_user_limits_export_nothing_rather_than_everyone() -> None:
    from audit.domain.disclosure import ScopeLimits

    request = ready()
    request = map_data(
        request,
        data_categories=["authentication_security"],
        organization_ids=["org_a"],
        user_ids=["usr_1"],
        by="e",
        at=R0 + D,
    )
    narrowed = review(
        request,
        "narrow",
        reason="other user",
        limits=ScopeLimits(user_ids=("usr_9",)),
        by="legal1",
        at=R0 + D,
    )
    assert narrowed.export_scope is not None
    assert narrowed.export_scope.organization_ids == ()


def test_the_export_scope_carries_the_mapped_categories_narrowed_by_review() -> None:
    from pydantic import ValidationError

    from audit.domain.disclosure import ScopeLimits

    request = ready(categories=("account", "authentication_security"))
    assert request.export_scope is not None
    assert request.export_scope.data_categories == ("account", "authentication_security")
    narrowed = review(
        request,
        "narrow",
        reason="sign-in records only",
        limits=ScopeLimits(data_categories=("authentication_security",)),
        by="legal1",
        at=R0 + D,
    )
    assert narrowed.export_scope is not None
    assert narrowed.export_scope.data_categories == ("authentication_security",)
    assert narrowed.approval_key != request.approval_key  # approvals bind to the categories
    disjoint = review(
        request,
        "narrow",
        reason="billing only",
        limits=ScopeLimits(data_categories=("organization_billing",)),
        by="legal1",
        at=R0 + D,
    )
    assert disjoint.export_scope is not None
    assert disjoint.export_scope.organization_ids == ()  # nothing, never every category
    with pytest.raises(ValidationError, match="unknown data categories"):
        ScopeLimits(data_categories=("billing",))
    with pytest.raises(DisclosureRefused, match="at least one data category"):
        map_data(request, data_categories=[], organization_ids=["org_a"], by="e", at=R0 + D)


def test_emergency_notice_may_be_deferred_and_not_required_needs_a_reason() -> None:
    from audit.domain.disclosure import record_notice

    emergency = ready("emergency")
    deferred = record_notice(emergency, "deferred", reason="emergency", by="l", at=R0 + D)
    assert deferred.customer_notice.status == "deferred"
    assert deferred.customer_notice.deferred_until is None
    with pytest.raises(DisclosureRefused, match="deferred only"):
        record_notice(ready(), "deferred", reason="rather not", by="l", at=R0 + D)
    with pytest.raises(DisclosureRefused, match="records its reason"):
        record_notice(ready(), "not_required", reason="", by="l", at=R0 + D)
