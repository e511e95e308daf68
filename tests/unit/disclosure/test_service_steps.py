"""Every step of a lawful request through DisclosureService, over in-memory ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.adapters.bundled_data import load_checklist_template
from audit.domain.checklists import AttributesConfig
from audit.domain.disclosure import (
    DisclosureRefused,
    NoticeMode,
    ScopeLimits,
    notice_plan,
)
from audit.services.disclosures import DisclosureService, RequestFile
from audit.services.incidents import BadInput
from tests.unit.disclosure.fakes import MemoryDisclosureStore, MemoryHolds, RecordingExporter
from tests.unit.disclosure.specs import request_file

R0 = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
TEMPLATE = load_checklist_template("lawful_request.v1")


@pytest.fixture
def parts() -> tuple[DisclosureService, MemoryHolds, RecordingExporter, MemoryDisclosureStore]:
    store, holds, exporter = MemoryDisclosureStore(), MemoryHolds(), RecordingExporter()
    service = DisclosureService(
        store,
        TEMPLATE,
        AttributesConfig(version=1),
        ["legal1", "legal2"],
        holds=holds,
        exporter=lambda: exporter,
        bundle_dir=Path("/tmp/never-written"),
    )
    return service, holds, exporter, store


def _spec(process: str = "subpoena", emergency: bool = False, ref: str = "R-1") -> RequestFile:
    return request_file(
        ref,
        process,
        R0,
        organization_ids=("org_a", "org_b"),
        emergency=emergency,
        documents=("ab" * 32,),
    )


def _verified(service: DisclosureService, rid: str, at: datetime) -> None:
    service.verify(
        rid,
        contact_used="+1 555 0100",
        contact_source="state police directory",
        confirmed=True,
        by="legal1",
        now=at,
    )


def test_emergency_request_end_to_end_exports_exactly_the_approved_scope(parts) -> None:
    service, _, exporter, _ = parts
    request, hold = service.record(_spec("emergency"), R0)
    assert hold is None
    rid = request.id
    # a forged emergency request from a compromised mailbox: nothing leaves unverified
    with pytest.raises(DisclosureRefused, match="emergency request is produced only after"):
        service.produce(rid, by="legal1", now=R0 + H)
    assert exporter.requests == []
    _verified(service, rid, R0 + H)
    service.review(rid, "accept", reason="imminent danger stated", by="legal1", now=R0 + 2 * H)
    t1, t2 = R0 - 7 * D, R0
    service.map(
        rid,
        data_categories=["authentication_security"],
        organization_ids=["org_a", "org_b"],
        user_ids=["usr_1", "usr_2"],
        time_from=t1,
        time_to=t2,
        by="eng1",
        now=R0 + 3 * H,
    )
    service.approve(rid, by="legal1", now=R0 + 4 * H)
    with pytest.raises(DisclosureRefused, match="approve"):
        service.produce(rid, by="legal1", now=R0 + 4 * H)
    service.approve(rid, by="legal2", now=R0 + 4 * H)
    produced = service.produce(rid, by="legal1", now=R0 + 5 * H)
    assert [(e.organization_id, e.user_ids, e.time_from, e.time_to) for e in exporter.requests] == [
        ("org_a", ("usr_1", "usr_2"), t1, t2),
        ("org_b", ("usr_1", "usr_2"), t1, t2),
    ]
    assert produced.production is not None
    assert [b.manifest_sha256 for b in produced.production.bundles] == [
        RecordingExporter.digest_of(e) for e in exporter.requests
    ]
    # emergency: the customer hears after the disclosure
    assert notice_plan(produced).mode is NoticeMode.DEFERRED
    service.notice(rid, "sent", reason="after emergency disclosure", by="legal1", now=R0 + D)
    closed = service.close(rid, "disclosed", by="legal1", now=R0 + D)
    assert [(h.action, h.by) for h in closed.history] == [
        ("received", "legal1"),
        ("verified", "legal1"),
        ("reviewed", "legal1"),
        ("data_mapped", "eng1"),
        ("approved", "legal1"),
        ("approved", "legal2"),
        ("produced", "legal1"),
        ("customer_notified", "legal1"),
        ("closed", "legal1"),
    ]
    report = service.report(2026)
    assert (report.by_outcome, report.emergency, report.verified) == ({"disclosed": 1}, 1, 1)
    assert (report.by_review_outcome, report.produced) == ({"accept": 1}, 1)
    assert report.customer_notice_by_status == {"sent": 1}


def test_unconfirmed_verification_blocks_an_emergency_production(parts) -> None:
    service, _, exporter, _ = parts
    rid = service.record(_spec("emergency"), R0)[0].id
    service.verify(
        rid, contact_used="x", contact_source="police directory", confirmed=False, by="l", now=R0
    )
    with pytest.raises(DisclosureRefused, match="verified"):
        service.produce(rid, by="legal1", now=R0 + H)
    assert exporter.requests == []


@pytest.mark.parametrize("outcome", ["reject", "challenge"])
def test_rejected_or_challenged_request_cannot_be_approved_or_produced(parts, outcome) -> None:
    service, _, exporter, _ = parts
    rid = service.record(_spec(), R0)[0].id
    _verified(service, rid, R0)
    service.map(rid, data_categories=["account"], organization_ids=["org_a"], by="eng", now=R0)
    service.approve(rid, by="legal1", now=R0)
    service.approve(rid, by="legal2", now=R0)
    service.review(rid, outcome, reason="overbroad", by="legal1", now=R0 + H)
    with pytest.raises(DisclosureRefused, match=f"answered {outcome}"):
        service.produce(rid, by="legal1", now=R0 + 30 * D)
    with pytest.raises(DisclosureRefused, match=f"answered {outcome}"):
        service.approve(rid, by="legal1", now=R0 + 2 * H)
    assert exporter.requests == []
    assert service.close(rid, "rejected", by="legal1", now=R0 + D).outcome == "rejected"
    report = service.report(2026)
    assert (report.by_review_outcome, report.produced) == ({outcome: 1}, 0)


def test_narrowing_changes_what_production_exports_and_needs_new_approvals(parts) -> None:
    service, _, exporter, _ = parts
    rid = service.record(_spec(), R0)[0].id
    _verified(service, rid, R0)
    service.review(rid, "accept", reason="ok", by="legal1", now=R0)
    service.map(
        rid,
        data_categories=["authentication_security"],
        organization_ids=["org_a", "org_b"],
        by="eng",
        now=R0,
    )
    service.approve(rid, by="legal1", now=R0)
    service.approve(rid, by="legal2", now=R0)
    limits = ScopeLimits(organization_ids=("org_a",), user_ids=("usr_1",), time_from=R0 - D)
    narrowed = service.review(
        rid, "narrow", reason="only usr_1", scope="usr_1, one day", limits=limits, by="l", now=R0
    )
    assert not narrowed.approved  # the approvals were of the wider scope
    assert narrowed.scope == "usr_1, one day"
    service.approve(rid, by="legal1", now=R0 + H)
    service.approve(rid, by="legal2", now=R0 + H)
    service.notice(rid, "sent", reason="", by="legal1", now=R0 + H)
    service.produce(rid, by="legal1", now=R0 + 8 * D)
    assert [(e.organization_id, e.user_ids, e.time_from) for e in exporter.requests] == [
        ("org_a", ("usr_1",), R0 - D)
    ]


def test_customer_content_is_redirected_first(parts) -> None:
    service, _, exporter, _ = parts
    rid = service.record(_spec(), R0)[0].id
    _verified(service, rid, R0)
    service.review(rid, "accept", reason="ok", by="legal1", now=R0)
    service.map(
        rid, data_categories=["customer_content"], organization_ids=["org_a"], by="e", now=R0
    )
    with pytest.raises(DisclosureRefused, match="redirect_to_customer"):
        service.produce(rid, by="legal1", now=R0 + 30 * D)
    redirected = service.redirect(rid, "customer_will_respond", note="DPO", by="legal1", now=R0)
    assert redirected.history[-1].action == "redirect_recorded"
    service.approve(rid, by="legal1", now=R0)
    service.approve(rid, by="legal2", now=R0)
    with pytest.raises(DisclosureRefused, match="close it as redirected"):
        service.produce(rid, by="legal1", now=R0 + 30 * D)
    assert exporter.requests == []
    assert service.close(rid, "redirected", by="l", now=R0 + D).outcome == "redirected"


def test_ndo_defers_the_notice_until_its_expiry_and_not_a_minute_longer(parts) -> None:
    service, _, _, _ = parts
    rid = service.record(_spec(), R0)[0].id
    expiry = R0 + 90 * D
    service.ndo(rid, expires_at=expiry, reference="2705(b) order", issuer="USDC", by="l", now=R0)
    deferred = service.notice(rid, "deferred", reason="NDO", by="legal1", now=R0 + H)
    assert deferred.customer_notice.deferred_until == expiry
    assert service.show(rid, R0 + H)["notice_plan"]["scheduled_at"] == expiry.isoformat().replace(
        "+00:00", "Z"
    )
    with pytest.raises(DisclosureRefused, match="bars notice"):
        service.notice(rid, "sent", reason="", by="legal1", now=expiry - timedelta(minutes=1))
    sent = service.notice(rid, "sent", reason="NDO expired", by="legal1", now=expiry)
    assert sent.customer_notice.sent and sent.customer_notice.sent_at == expiry
    checklist = {i["item_id"]: i for i in service.show(rid, expiry)["checklist"]}
    assert checklist["deferred_customer_notice"]["due_at"] == expiry.isoformat().replace(
        "+00:00", "Z"
    )
    assert checklist["deferred_customer_notice"]["status"] == "done"


def test_notice_not_required_needs_a_reason_and_deferral_needs_an_ndo(parts) -> None:
    service, _, _, _ = parts
    rid = service.record(_spec(), R0)[0].id
    with pytest.raises(DisclosureRefused, match="records its reason"):
        service.notice(rid, "not_required", reason=" ", by="l", now=R0)
    with pytest.raises(DisclosureRefused, match="deferred only"):
        service.notice(rid, "deferred", reason="we'd rather not", by="l", now=R0)
    with pytest.raises(BadInput, match="unknown notice status"):
        service.notice(rid, "maybe", reason="x", by="l", now=R0)


def test_preservation_hold_renewed_before_it_ends_and_released_when_it_lapses(parts) -> None:
    service, holds, _, _ = parts
    request, hold = service.record(_spec("preservation"), R0)
    rid = request.id
    assert hold is not None and holds.active(R0) == [hold.hold_id]
    assert holds.holds[hold.hold_id].expires_at == R0 + 90 * D  # 18 U.S.C. 2703(f)(2)
    renewed = service.renew(rid, why="renewed request", by="legal1", now=R0 + 80 * D)
    new_hold = renewed.hold_id
    assert new_hold != hold.hold_id and holds.holds[new_hold].expires_at == R0 + 180 * D
    # the data is held without gap: the new hold is in force before the old one ends
    assert holds.active(R0 + 100 * D) == [new_hold]
    assert holds.released == [(hold.hold_id, "legal1", f"superseded by {new_hold} (renewal)")]
    with pytest.raises(DisclosureRefused, match="renewed once"):
        service.renew(rid, why="again", by="legal1", now=R0 + 100 * D)
    assert service.expire_preservations(R0 + 179 * D) == []
    assert service.expire_preservations(R0 + 180 * D) == [rid]
    lapsed = service.get(rid)
    assert lapsed.hold_released and lapsed.history[-1].action == "hold_released"
    assert lapsed.history[-1].why == "preservation period ended"
    assert holds.released[-1] == (new_hold, "audit", "preservation period ended")
    assert service.expire_preservations(R0 + 181 * D) == []


def test_eu_preservation_order_continues_on_a_confirmed_production_order(parts) -> None:
    service, holds, _, _ = parts
    request, hold = service.record(_spec("eu_preservation_order"), R0)
    assert holds.holds[hold.hold_id].expires_at == R0 + 60 * D  # Reg. 2023/1543 Art. 11(1)
    confirmed = service.renew(
        request.id, why="EPOC issued", production_order="EPOC-2026-7", by="l", now=R0 + 59 * D
    )
    assert holds.holds[confirmed.hold_id].expires_at is None
    assert service.expire_preservations(R0 + 400 * D) == []
    closed = service.close(request.id, "preserved_only", by="l", now=R0 + 401 * D)
    assert closed.hold_released
    assert holds.active(R0 + 402 * D) == []


def test_preserve_places_a_hold_for_other_process_and_close_releases_it(parts) -> None:
    service, holds, _, _ = parts
    rid = service.record(_spec("subpoena"), R0)[0].id
    preserved = service.preserve(rid, why="preservation letter", by="legal1", now=R0)
    assert holds.active(R0 + 300 * D) == [preserved.hold_id]
    with pytest.raises(DisclosureRefused, match="already holds"):
        service.preserve(rid, why="again", by="legal1", now=R0)
    closed = service.close(rid, "no_data", by="legal1", now=R0 + D)
    assert closed.history[-1].action == "hold_released"
    assert holds.active(R0 + 2 * D) == []
