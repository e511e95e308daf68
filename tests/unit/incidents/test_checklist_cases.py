"""Worked cases of the incident disclosure checklist (template v1 as shipped)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from audit.adapters.bundled_data import load_checklist_template
from audit.domain.checklists import (
    DecisionRefused,
    IncidentFacts,
    ItemStatus,
    OrgAttributes,
    PlatformAttributes,
    append_decision,
    evaluate_checklist,
    validate_decision,
)

from .helpers import T0, decision

TEMPLATE = load_checklist_template("incident_disclosure.v1")
H = timedelta(hours=1)
ALWAYS = {"t0_and_legal_hold", "personal_data_involved", "law_enforcement_delay"}
# (see tests/unit/incidents/test_legal_clocks.py for the worked cases per clock)


def facts(categories, affected=("org_a",), opened_at=T0):
    return IncidentFacts(
        incident_id="inc-1",
        opened_at=opened_at,
        organization_ids=("org_a",),
        affected_organization_ids=tuple(affected),
        data_categories=tuple(categories),
        roles={c: "processor" if c == "customer_content" else "controller" for c in categories},
        severity="high",
    )


def evaluate(fs, decisions=(), *, now, orgs=None, platform=None, calendar=None):
    orgs = orgs if orgs is not None else {"org_a": OrgAttributes(organization_id="org_a")}
    states = evaluate_checklist(
        TEMPLATE, fs, orgs, platform or PlatformAttributes(), list(decisions), calendar, now=now
    )
    return {s.item_id: s for s in states}


def applicable(states):
    return {k for k, s in states.items() if s.applicable}


# --- processor only -----------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "now", "status"),
    [
        (24, T0 + H, ItemStatus.PENDING),
        (24, T0 + 13 * H, ItemStatus.DUE_SOON),
        (24, T0 + 25 * H, ItemStatus.OVERDUE),
        (8, T0 + 9 * H, ItemStatus.OVERDUE),
    ],
)
def test_processor_only_customer_content(hours, now, status) -> None:
    states = evaluate(
        facts(["customer_content"]),
        [decision("personal_data_involved", "yes", T0 + H)],
        now=now,
        platform=PlatformAttributes(processor_notice_hours=hours),
    )
    assert applicable(states) == ALWAYS | {"processor_notice:org_a"}
    notice = states["processor_notice:org_a"]
    assert notice.due_at == T0 + hours * H
    assert notice.status is status
    assert notice.organization_id == "org_a"
    assert "33(2)" in notice.legal_basis
    assert states["risk_assessment"].status is ItemStatus.NOT_APPLICABLE
    assert states["sa_notification"].applicable is False


def test_processor_notice_per_affected_customer() -> None:
    orgs = {o: OrgAttributes(organization_id=o) for o in ("org_a", "org_b")}
    states = evaluate(facts(["customer_content"], affected=("org_a", "org_b")), now=T0, orgs=orgs)
    notified = decision("processor_notice:org_a", "notified", T0 + 3 * H)
    states = evaluate(
        facts(["customer_content"], affected=("org_a", "org_b")),
        [notified],
        now=T0 + 4 * H,
        orgs=orgs,
    )
    assert states["processor_notice:org_a"].status is ItemStatus.DONE
    assert states["processor_notice:org_b"].status is ItemStatus.PENDING


# --- controller ---------------------------------------------------------------

CONTROLLER = ["account", "authentication_security"]


def test_controller_with_risk() -> None:
    decisions = [
        decision("personal_data_involved", "yes", T0 + 2 * H),
        decision("risk_assessment", "risk", T0 + 10 * H),
    ]
    states = evaluate(facts(CONTROLLER), decisions, now=T0 + 20 * H)
    assert applicable(states) == ALWAYS | {"risk_assessment", "sa_notification", "breach_register"}
    assert states["risk_assessment"].status is ItemStatus.DONE
    assert states["sa_notification"].due_at == T0 + 72 * H
    assert states["sa_notification"].status is ItemStatus.PENDING
    assert states["data_subject_notice"].applicable is False


def test_undecided_risk_assessment_is_due_with_the_sa_deadline() -> None:
    states = evaluate(
        facts(CONTROLLER), [decision("personal_data_involved", "yes", T0)], now=T0 + 61 * H
    )
    assert states["risk_assessment"].status is ItemStatus.DUE_SOON
    assert states["sa_notification"].applicable is False


def test_no_personal_data_means_no_gdpr_items() -> None:
    states = evaluate(facts(CONTROLLER), [decision("personal_data_involved", "no", T0)], now=T0)
    assert applicable(states) == ALWAYS


def test_high_risk_with_an_art_34_3_exemption() -> None:
    decisions = [
        decision("personal_data_involved", "yes", T0 + H),
        decision("risk_assessment", "high", T0 + 5 * H),
        decision("sa_notification", "notified", T0 + 30 * H),
    ]
    before = evaluate(facts(CONTROLLER), decisions, now=T0 + 31 * H)
    assert before["data_subject_notice"].applicable
    assert before["data_subject_notice"].status is ItemStatus.PENDING
    assert before["data_subject_notice"].due_at is None
    exempt = decision("data_subject_notice", "exempt_art_34_3_a", T0 + 32 * H)
    after = evaluate(facts(CONTROLLER), [*decisions, exempt], now=T0 + 33 * H)
    assert after["data_subject_notice"].status is ItemStatus.DONE
    assert after["data_subject_notice"].decision.answer == "exempt_art_34_3_a"
    assert after["sa_notification"].late is False


def test_late_sa_notification_needs_reasons() -> None:
    base = [
        decision("personal_data_involved", "yes", T0 + H),
        decision("risk_assessment", "risk", T0 + 5 * H),
    ]
    late = decision("sa_notification", "notified", T0 + 80 * H)
    states = evaluate(facts(CONTROLLER), [*base, late], now=T0 + 81 * H)
    sa = states["sa_notification"]
    assert sa.status is ItemStatus.DONE and sa.late
    assert any("reasons for the delay" in p for p in sa.problems)
    amended = decision(
        "sa_notification",
        "notified",
        T0 + 82 * H,
        effective_at=T0 + 80 * H,
        late_reasons="forensic scoping needed to identify the data subjects",
    )
    states = evaluate(facts(CONTROLLER), [*base, late, amended], now=T0 + 83 * H)
    sa = states["sa_notification"]
    assert sa.late and sa.problems == ()
    assert sa.decision == amended
    assert sa.previous_decisions == (late,)


def test_overdue_sa_notification() -> None:
    decisions = [
        decision("personal_data_involved", "yes", T0 + H),
        decision("risk_assessment", "risk", T0 + 5 * H),
    ]
    states = evaluate(facts(CONTROLLER), decisions, now=T0 + 73 * H)
    assert states["sa_notification"].status is ItemStatus.OVERDUE


def test_decision_amendment_latest_wins_and_history_kept() -> None:
    first = decision("risk_assessment", "risk", T0 + 5 * H)
    second = decision("risk_assessment", "high", T0 + 9 * H)
    log = append_decision(append_decision((), first), second)
    assert log == (first, second)
    pd = decision("personal_data_involved", "yes", T0)
    states = evaluate(facts(CONTROLLER), [pd, *log], now=T0 + 10 * H)
    assert states["risk_assessment"].decision.answer == "high"
    assert states["risk_assessment"].previous_decisions == (first,)
    assert states["data_subject_notice"].applicable
    with pytest.raises(DecisionRefused, match="predates"):
        append_decision(log, decision("risk_assessment", "none", T0 + 6 * H))


def test_decisions_are_validated_against_the_template() -> None:
    validate_decision(TEMPLATE, decision("risk_assessment", "high", T0))
    validate_decision(TEMPLATE, decision("processor_notice:org_a", "notified", T0))
    with pytest.raises(DecisionRefused, match="allowed: none, risk, high"):
        validate_decision(TEMPLATE, decision("risk_assessment", "maybe", T0))
    with pytest.raises(DecisionRefused, match="no item 'nope'"):
        validate_decision(TEMPLATE, decision("nope", "x", T0))
    with pytest.raises(DecisionRefused, match="processor_notice:<organization id>"):
        validate_decision(TEMPLATE, decision("processor_notice", "notified", T0))


# --- NIS2 ---------------------------------------------------------------------

NIS2 = PlatformAttributes(nis2_entity=True)


def test_nis2_on() -> None:
    states = evaluate(facts(CONTROLLER), now=T0 + H, platform=NIS2)
    assert states["nis2_early_warning"].due_at == T0 + 24 * H
    assert states["nis2_notification"].due_at == T0 + 72 * H
    assert states["nis2_final_report"].applicable is False
    sent = decision("nis2_notification", "sent", T0 + 60 * H)
    states = evaluate(facts(CONTROLLER), [sent], now=T0 + 61 * H, platform=NIS2)
    # one month after the notification: 2026-11-04 21:00 -> 2026-12-04 21:00 UTC
    assert states["nis2_final_report"].due_at == datetime(2026, 12, 4, 21, tzinfo=UTC)
    assert states["nis2_early_warning"].status is ItemStatus.OVERDUE
    off = evaluate(facts(CONTROLLER), now=T0, platform=PlatformAttributes())
    assert not any(k.startswith("nis2") for k in applicable(off))


def test_nis2_not_significant_drops_the_reports() -> None:
    no = decision("nis2_significance", "not_significant", T0 + H)
    states = evaluate(facts(CONTROLLER), [no], now=T0 + 2 * H, platform=NIS2)
    assert states["nis2_early_warning"].applicable is False
    assert states["nis2_significance"].status is ItemStatus.DONE


# --- DORA ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("classified_after", "initial_due_after"),
    [(2 * H, 6 * H), (22 * H, 24 * H)],
)
def test_dora_initial_is_4h_from_classification_capped_at_24h(
    classified_after, initial_due_after
) -> None:
    orgs = {"org_a": OrgAttributes(organization_id="org_a", dora_financial_entity=True)}
    before = evaluate(facts(CONTROLLER), now=T0, orgs=orgs)
    assert before["dora_classification:org_a"].applicable
    assert before["dora_initial:org_a"].applicable is False
    cls = decision(
        "dora_classification:org_a", "major", T0 + 23 * H, effective_at=T0 + classified_after
    )
    initial = decision("dora_initial:org_a", "supported", T0 + 23 * H + 30 * timedelta(minutes=1))
    states = evaluate(facts(CONTROLLER), [cls, initial], now=T0 + 24 * H, orgs=orgs)
    assert states["dora_initial:org_a"].due_at == T0 + initial_due_after
    assert states["dora_intermediate:org_a"].due_at == initial.decided_at + 72 * H
    assert states["dora_final:org_a"].applicable is False


# --- SEC ----------------------------------------------------------------------

NY = ZoneInfo("America/New_York")
SEC = PlatformAttributes(sec_registrant=True)


def test_sec_not_material_means_no_8k() -> None:
    no = decision("sec_materiality", "not_material", T0)
    states = evaluate(facts(CONTROLLER), [no], now=T0, platform=SEC)
    assert states["sec_8k"].applicable is False


# --- DST ----------------------------------------------------------------------


def test_hours_are_elapsed_time_across_the_us_dst_switch() -> None:
    t0 = datetime(2026, 3, 6, 15, 0, tzinfo=NY)  # EST; DST starts Sun 8 March
    decisions = [
        decision("personal_data_involved", "yes", t0),
        decision("risk_assessment", "risk", t0 + H),
    ]
    states = evaluate(facts(CONTROLLER, opened_at=t0), decisions, now=t0)
    due = states["sa_notification"].due_at
    assert due == datetime(2026, 3, 9, 20, 0, tzinfo=UTC)
    assert due.astimezone(NY).hour == 16  # 15:00 EST + 72 h = 16:00 EDT


def test_hours_are_elapsed_time_across_the_eu_dst_switch() -> None:
    paris = ZoneInfo("Europe/Paris")
    t0 = datetime(2026, 3, 27, 11, 0, tzinfo=paris)  # CET; summer time starts Sun 29 March
    states = evaluate(facts(CONTROLLER, opened_at=t0), now=t0, platform=NIS2)
    due = states["nis2_notification"].due_at
    assert due == datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    assert due.astimezone(paris).hour == 12


# --- US states, HIPAA, law-enforcement delay ----------------------------------


def test_us_state_notices_follow_jurisdictions_and_law_enforcement_delay() -> None:
    orgs = {
        "org_a": OrgAttributes(
            organization_id="org_a",
            jurisdictions=("US-CA",),
            hipaa_covered_entity=True,
            nydfs_covered=True,
        )
    }
    pd = decision("personal_data_involved", "yes", T0)
    states = evaluate(facts(CONTROLLER), [pd], now=T0, orgs=orgs)
    assert states["us_state_ca"].due_at == T0 + timedelta(days=30)
    assert states["us_state_ny"].applicable is False
    assert states["hipaa_ba_notice:org_a"].due_at == T0 + timedelta(days=60)
    assert states["nydfs_notice:org_a"].due_at == T0 + 72 * H
    delay = decision(
        "law_enforcement_delay", "delay_requested", T0 + H, expires_at=T0 + timedelta(days=45)
    )
    states = evaluate(facts(CONTROLLER), [pd, delay], now=T0, orgs=orgs)
    assert states["us_state_ca"].due_at == T0 + timedelta(days=45)
    assert states["hipaa_ba_notice:org_a"].due_at == T0 + timedelta(days=60)
    assert states["nydfs_notice:org_a"].due_at == T0 + 72 * H
    assert states["law_enforcement_delay"].status is ItemStatus.DONE


def test_unconfigured_organization_is_flagged() -> None:
    states = evaluate(facts(["customer_content"], affected=("org_x",)), now=T0, orgs={})
    assert any("not configured" in p for p in states["processor_notice:org_x"].problems)
