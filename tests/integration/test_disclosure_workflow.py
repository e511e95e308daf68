"""A lawful request carried end to end on the real node: production as a signed
bundle that ``audit verify-bundle`` accepts, holding exactly the approved scope;
refusals; the redirect; the NDO; preservation holds renewed and released."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from audit.adapters.metrics import PrometheusMetrics
from audit.cli import integrity as integrity_cli
from audit.domain.disclosure import Channel, DisclosureRefused, Intake, ProcessType, ScopeLimits
from audit.domain.export import Manifest
from audit.services.disclosures import DisclosureService, RequestFile
from audit.services.holds import HoldService
from audit.settings import load_settings
from audit.wiring.incidents import build_disclosures
from audit.wiring.retention import build_retention
from tests.integration.trail_support import T0, Trail, store_chain, trail

pytestmark = pytest.mark.integration
__all__ = ["trail"]

ORG, OTHER = "org_ldr", "org_other"
NOW = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
LEGAL = ("ana@legal", "ben@legal")


@dataclass
class Legal:
    service: DisclosureService
    holds: HoldService
    bundle_dir: Path


@pytest.fixture
def legal(trail: Trail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Legal]:
    tag = trail.prefix.removesuffix("-events")
    for name, value in {
        "AUDIT_DISCLOSURE_INDEX": f"{tag}-disclosures",
        "AUDIT_HOLD_INDEX": f"{tag}-legal-holds",
        "AUDIT_HOLD_COPY_PREFIX": f"{tag}-holds",
        "AUDIT_ORG_SETTINGS_INDEX": f"{tag}-org-settings",
        "AUDIT_API_EXPORT_DIR": str(tmp_path / "exports"),
        "AUDIT_LEGAL_PRINCIPALS": ",".join(LEGAL),
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    service = build_disclosures(settings, trail.es)
    holds = build_retention(settings, trail.es, PrometheusMetrics()).holds
    yield Legal(service, holds, tmp_path / "exports" / "disclosures")


def _spec(process: ProcessType, ref: str, orgs: tuple[str, ...] = (ORG,)) -> RequestFile:
    return RequestFile(
        intake=Intake(
            authority="Metro Police",
            agent="Sgt. K. Lee",
            channel=Channel.EMAIL,
            received_at=NOW,
            reference=ref,
            organization_ids=orgs,
            requested_data="sign-ins of usr_2 and usr_3",
            emergency=process is ProcessType.EMERGENCY,
        ),
        process_type=process,
        received_by="intake@legal",
    )


def _verify_and_accept(service: DisclosureService, rid: str) -> None:
    service.verify(
        rid,
        contact_used="+1 555 0142 (duty desk)",
        contact_source="police department website",
        confirmed=True,
        by=LEGAL[0],
        now=NOW + H,
    )
    service.review(rid, "accept", reason="lawful on its face", by=LEGAL[0], now=NOW + H)


def verify_bundle_cli(directory: Path) -> int:
    parser = argparse.ArgumentParser()
    integrity_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["verify-bundle", str(directory)])
    status: int = args.handler(args)
    return status


def test_emergency_request_from_intake_to_closure_produces_exactly_the_approved_scope(
    trail: Trail, legal: Legal
) -> None:
    store_chain(trail.es, trail.prefix, ORG, 100)
    store_chain(trail.es, trail.prefix, OTHER, 20)
    service = legal.service
    rid = service.record(_spec(ProcessType.EMERGENCY, "EMERG-1", (ORG, OTHER)), NOW)[0].id
    with pytest.raises(DisclosureRefused, match="emergency request is produced only after"):
        service.produce(rid, by=LEGAL[0], now=NOW)
    _verify_and_accept(service, rid)
    start, end = T0 + timedelta(seconds=10), T0 + timedelta(seconds=60)
    service.review(
        rid,
        "narrow",
        reason="the emergency concerns usr_2 only, and the last hour",
        limits=ScopeLimits(organization_ids=(ORG,), user_ids=("usr_2",), time_from=start),
        by=LEGAL[0],
        now=NOW + 2 * H,
    )
    service.map(
        rid,
        data_categories=["authentication_security"],
        organization_ids=[ORG, OTHER],
        user_ids=["usr_2", "usr_3"],
        time_from=T0,
        time_to=end,
        by="eng@platform",
        now=NOW + 3 * H,
    )
    service.approve(rid, by=LEGAL[0], now=NOW + 4 * H)
    with pytest.raises(DisclosureRefused, match="approve"):
        service.produce(rid, by=LEGAL[0], now=NOW + 4 * H)
    service.approve(rid, by=LEGAL[1], now=NOW + 4 * H)
    produced = service.produce(rid, by=LEGAL[1], now=NOW + 5 * H)

    assert produced.production is not None
    (bundle,) = produced.production.bundles  # OTHER was narrowed out: not exported
    assert bundle.organization_id == ORG
    directory = legal.bundle_dir / rid / ORG
    assert verify_bundle_cli(directory) == 0
    manifest = Manifest.model_validate_json((directory / "manifest.json").read_bytes())
    assert bundle.manifest_sha256 == hashlib.sha256(manifest.signing_bytes()).hexdigest()
    events = [
        orjson.loads(line) for line in (directory / "events-0001.ndjson").read_bytes().splitlines()
    ]
    # seq s is at T0 + s seconds, user usr_{s % 5}: exactly [10 s, 60 s) of usr_2
    assert [e["integrity"]["seq"] for e in events] == [s for s in range(10, 60) if s % 5 == 2]
    assert {e["organization"]["id"] for e in events} == {ORG}
    assert bundle.event_count == len(events) == manifest.event_count
    assert not (legal.bundle_dir / rid / OTHER).exists()

    service.notice(rid, "sent", reason="after the emergency disclosure", by=LEGAL[0], now=NOW + D)
    closed = service.close(rid, "disclosed", by=LEGAL[0], now=NOW + D)
    assert [(h.action, h.by) for h in closed.history] == [
        ("received", "intake@legal"),
        ("verified", LEGAL[0]),
        ("reviewed", LEGAL[0]),
        ("reviewed", LEGAL[0]),
        ("data_mapped", "eng@platform"),
        ("approved", LEGAL[0]),
        ("approved", LEGAL[1]),
        ("produced", LEGAL[1]),
        ("customer_notified", LEGAL[0]),
        ("closed", LEGAL[0]),
    ]
    assert service.get(rid).outcome == "disclosed"  # stored, read back
    report = service.report(2026)
    assert report.by_outcome["disclosed"] == 1 and report.emergency == 1


def test_production_exports_only_the_mapped_data_categories(trail: Trail, legal: Legal) -> None:
    # Every fourth event is account data, the rest authentication: the mapping names
    # account only, so production must not disclose the rest (it once exported every
    # category of the organizations, users and time range).
    store_chain(
        trail.es,
        trail.prefix,
        ORG,
        40,
        category_of=lambda seq: "account" if seq % 4 == 0 else "authentication_security",
    )
    service = legal.service
    rid = service.record(_spec(ProcessType.EMERGENCY, "EMERG-CAT"), NOW)[0].id
    _verify_and_accept(service, rid)
    with pytest.raises(DisclosureRefused, match="unknown data categories"):
        service.map(rid, data_categories=["acount"], organization_ids=[ORG], by="e", now=NOW)
    service.map(rid, data_categories=["account"], organization_ids=[ORG], by="eng", now=NOW)
    for principal in LEGAL:
        service.approve(rid, by=principal, now=NOW + H)
    produced = service.produce(rid, by=LEGAL[0], now=NOW + 2 * H)

    (bundle,) = produced.production.bundles  # type: ignore[union-attr]
    directory = legal.bundle_dir / rid / ORG
    assert verify_bundle_cli(directory) == 0
    events = [
        orjson.loads(line) for line in (directory / "events-0001.ndjson").read_bytes().splitlines()
    ]
    assert [e["integrity"]["seq"] for e in events] == list(range(4, 41, 4))
    assert {e["elastra"]["data_category"] for e in events} == {"account"}
    manifest = Manifest.model_validate_json((directory / "manifest.json").read_bytes())
    assert manifest.query["categories"] == ["account"]
    assert bundle.event_count == 10


def test_a_rejected_request_cannot_be_produced(trail: Trail, legal: Legal) -> None:
    service = legal.service
    rid = service.record(_spec(ProcessType.SUBPOENA, "SUB-REJ"), NOW)[0].id
    _verify_and_accept(service, rid)
    service.map(rid, data_categories=["account"], organization_ids=[ORG], by="eng", now=NOW)
    service.review(rid, "reject", reason="no jurisdiction", by=LEGAL[0], now=NOW + 2 * H)
    with pytest.raises(DisclosureRefused, match="answered reject"):
        service.approve(rid, by=LEGAL[0], now=NOW + 3 * H)
    with pytest.raises(DisclosureRefused, match="answered reject"):
        service.produce(rid, by=LEGAL[0], now=NOW + 30 * D)
    assert not (legal.bundle_dir / rid).exists()
    assert service.get(rid).production is None


def test_a_customer_content_request_is_redirected_to_the_customer(legal: Legal) -> None:
    service = legal.service
    rid = service.record(_spec(ProcessType.WARRANT, "WAR-CC"), NOW)[0].id
    _verify_and_accept(service, rid)
    service.map(rid, data_categories=["customer_content"], organization_ids=[ORG], by="e", now=NOW)
    assert service.show(rid, NOW)["next_steps"][-1] == "redirect_to_customer"
    for principal in LEGAL:
        service.approve(rid, by=principal, now=NOW + H)
    with pytest.raises(DisclosureRefused, match="redirect_to_customer"):
        service.produce(rid, by=LEGAL[0], now=NOW + 30 * D)
    service.redirect(rid, "customer_will_respond", note="customer's DPO", by=LEGAL[0], now=NOW)
    with pytest.raises(DisclosureRefused, match="close it as redirected"):
        service.produce(rid, by=LEGAL[0], now=NOW + 30 * D)
    closed = service.close(rid, "redirected", by=LEGAL[0], now=NOW + D)
    assert [h.action for h in closed.history][-2:] == ["redirect_recorded", "closed"]
    assert service.get(rid).redirect.outcome == "customer_will_respond"  # type: ignore[union-attr]
    # The deadlines job's round reads only open requests, selected by the node.
    other = service.record(_spec(ProcessType.WARRANT, "WAR-OPEN"), NOW)[0].id
    open_ids = [r.id for r in service.open_requests()]
    assert other in open_ids and rid not in open_ids
    assert {rid, other} <= {r.id for r in service.listing()}


def test_an_ndo_defers_the_notice_until_its_expiry_and_not_a_minute_longer(legal: Legal) -> None:
    service = legal.service
    rid = service.record(_spec(ProcessType.COURT_ORDER, "CO-NDO"), NOW)[0].id
    expiry = NOW + 180 * D
    service.ndo(
        rid,
        expires_at=expiry,
        reference="2705(b)",
        issuer="US District Court",
        by=LEGAL[0],
        now=NOW,
    )
    deferred = service.notice(rid, "deferred", reason="2705(b) order", by=LEGAL[0], now=NOW)
    assert deferred.customer_notice.deferred_until == expiry  # type: ignore[union-attr]
    with pytest.raises(DisclosureRefused, match="bars notice"):
        service.notice(rid, "sent", reason="", by=LEGAL[0], now=expiry - timedelta(minutes=1))
    overdue = {
        i["item_id"]: i for i in service.show(rid, expiry + timedelta(minutes=1))["checklist"]
    }
    assert overdue["deferred_customer_notice"]["status"] == "overdue"
    sent = service.notice(rid, "sent", reason="order expired", by=LEGAL[0], now=expiry)
    assert sent.customer_notice.sent_at == expiry  # type: ignore[union-attr]
    done = {i["item_id"]: i for i in service.show(rid, expiry + timedelta(minutes=1))["checklist"]}
    assert done["deferred_customer_notice"]["status"] == "done"


def _active(holds: HoldService, at: datetime) -> set[str]:
    return {h["id"] for h in holds.listing(at) if h["active"]}


def test_a_renewed_preservation_keeps_the_hold_and_an_expired_one_releases_it(
    legal: Legal,
) -> None:
    service = legal.service
    request, hold = service.record(_spec(ProcessType.PRESERVATION, "PRES-1"), NOW)
    assert hold is not None
    rid = request.id
    assert hold.hold_id in _active(legal.holds, NOW + 89 * D)
    assert hold.hold_id not in _active(legal.holds, NOW + 90 * D)  # 2703(f)(1): 90 days
    renewed = service.renew(rid, why="renewed 2703(f) letter", by=LEGAL[0], now=NOW + 85 * D)
    new_id = renewed.hold_id
    assert new_id is not None and new_id != hold.hold_id
    # kept without a gap: from the renewal until 180 days, by the new hold
    assert _active(legal.holds, NOW + 120 * D) == {new_id}
    assert legal.holds.log(hold.hold_id)[-1]["reason"] == f"superseded by {new_id} (renewal)"
    assert service.expire_preservations(NOW + 179 * D) == []
    assert service.expire_preservations(NOW + 180 * D) == [rid]
    lapsed = service.get(rid)
    assert lapsed.hold_released
    assert (lapsed.history[-1].action, lapsed.history[-1].why) == (
        "hold_released",
        "preservation period ended",
    )
    assert legal.holds.log(new_id)[-1] == {
        "action": "released",
        "by": "audit",
        "at": (NOW + 180 * D).isoformat(),
        "reason": "preservation period ended",
    }
