"""Worked cases per legal clock, each citing the rule it checks.

The incident checklist (template v1 as shipped) evaluated at fixed times;
SEC business days come from the ``holidays`` package (US federal holidays,
observed days included), never from a hand-written list.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from audit.domain.checklists import (
    BusinessCalendar,
    DecisionRefused,
    ItemStatus,
    OrgAttributes,
    PlatformAttributes,
    refuse_late_without_reasons,
    validate_decision,
)

from .helpers import T0, decision
from .test_checklist_cases import CONTROLLER, NIS2, TEMPLATE, evaluate, facts

NY = ZoneInfo("America/New_York")
H = timedelta(hours=1)
D = timedelta(days=1)
SEC = PlatformAttributes(sec_registrant=True)


def _8k_due(determined: datetime) -> datetime:
    material = decision("sec_materiality", "material", determined)
    states = evaluate(facts(CONTROLLER), [material], now=determined, platform=SEC)
    due = states["sec_8k"].due_at
    assert due is not None
    return due


# --- SEC Form 8-K Item 1.05: four SEC business days, 17:30 ET -----------------
# General Instruction B.1 (four business days after the determination);
# 17 CFR 232.13(a)(2) (EDGAR: submitted after 5:30 p.m. Eastern = next business day);
# business day: not Saturday, Sunday or a federal holiday (holidays package, US).


@pytest.mark.parametrize(
    ("case", "determined", "due_local"),
    [
        (
            "business day before a federal holiday: Thu 24 Dec, Christmas Fri 25 skipped",
            datetime(2026, 12, 24, 15, 0, tzinfo=NY),
            datetime(2026, 12, 31, 17, 30, tzinfo=NY),
        ),
        (
            "before an observed holiday: Thu 2 Jul, Fri 3 Jul 2026 is Independence Day observed",
            datetime(2026, 7, 2, 10, 0, tzinfo=NY),
            datetime(2026, 7, 9, 17, 30, tzinfo=NY),
        ),
        (
            "determination after 17:30 ET still counts from its own local date",
            datetime(2026, 6, 1, 18, 0, tzinfo=NY),
            datetime(2026, 6, 5, 17, 30, tzinfo=NY),
        ),
        (
            "23:30 ET Monday is Tuesday in UTC: the local (Eastern) date counts",
            datetime(2026, 6, 1, 23, 30, tzinfo=NY),
            datetime(2026, 6, 5, 17, 30, tzinfo=NY),
        ),
        (
            "month end: Wed 30 Sep -> Tue 6 Oct",
            datetime(2026, 9, 30, 9, 0, tzinfo=NY),
            datetime(2026, 10, 6, 17, 30, tzinfo=NY),
        ),
        (
            "spring DST: Fri 6 Mar (EST) -> Thu 12 Mar 17:30 EDT",
            datetime(2026, 3, 6, 10, 0, tzinfo=NY),
            datetime(2026, 3, 12, 17, 30, tzinfo=NY),
        ),
        (
            "autumn DST: Fri 30 Oct (EDT) -> Thu 5 Nov 17:30 EST",
            datetime(2026, 10, 30, 10, 0, tzinfo=NY),
            datetime(2026, 11, 5, 17, 30, tzinfo=NY),
        ),
        (
            "a year no hand list had: Fri 31 Dec 2027 is New Year's Day observed",
            datetime(2027, 12, 30, 12, 0, tzinfo=NY),
            datetime(2028, 1, 6, 17, 30, tzinfo=NY),
        ),
        (
            "determined on a Saturday: Mon-Thu after it",
            datetime(2026, 8, 1, 12, 0, tzinfo=NY),
            datetime(2026, 8, 6, 17, 30, tzinfo=NY),
        ),
    ],
)
def test_sec_8k_is_due_1730_eastern_on_the_fourth_business_day(case, determined, due_local):
    assert _8k_due(determined) == due_local.astimezone(UTC), case


def test_dst_offsets_of_the_8k_deadline() -> None:
    assert _8k_due(datetime(2026, 3, 6, 10, tzinfo=NY)) == datetime(2026, 3, 12, 21, 30, tzinfo=UTC)
    assert _8k_due(datetime(2026, 10, 30, 10, tzinfo=NY)) == datetime(
        2026, 11, 5, 22, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("filed_local", "late"),
    [
        (datetime(2026, 6, 5, 17, 30, tzinfo=NY), False),  # 232.13(a)(2): by 5:30 p.m.
        (datetime(2026, 6, 5, 17, 31, tzinfo=NY), True),  # after it: the next business day
    ],
)
def test_a_filing_recorded_after_1730_et_on_the_last_day_is_late(filed_local, late) -> None:
    material = decision("sec_materiality", "material", datetime(2026, 6, 1, 9, tzinfo=NY))
    filed = decision("sec_8k", "filed", filed_local)
    states = evaluate(facts(CONTROLLER), [material, filed], now=filed_local, platform=SEC)
    assert states["sec_8k"].status is ItemStatus.DONE
    assert states["sec_8k"].late is late


def test_extra_closures_add_to_the_federal_holidays() -> None:
    # 17 CFR 232.13: EDGAR closed on a national day of mourning (no calendar knows it ahead)
    closed = BusinessCalendar(holidays=frozenset({datetime(2026, 6, 3).date()}))
    start = datetime(2026, 6, 1, 9, tzinfo=NY)
    assert closed.add_business_days(start, 4) > BusinessCalendar().add_business_days(start, 4)
    assert (
        BusinessCalendar().is_business_day(datetime(2026, 11, 26).date()) is False
    )  # Thanksgiving


# --- SEC Item 1.05(c): Attorney General delay, 30 + 30 + 60 days at most ------------

DUE_8K = datetime(2026, 6, 5, 17, 30, tzinfo=NY).astimezone(UTC)


@pytest.mark.parametrize(
    ("answer", "expires_after", "due_after"),
    [
        ("ag_delay_30", 20 * D, 20 * D),  # the period the AG specified
        ("ag_delay_30", 45 * D, 30 * D),  # capped: up to 30 days
        ("ag_extension_30", 70 * D, 60 * D),  # capped: an additional 30
        ("ag_extension_30", 50 * D, 50 * D),
        ("ag_extraordinary_60", 200 * D, 120 * D),  # capped: a further 60
        ("none", 0 * D, 0 * D),
    ],
)
def test_sec_law_enforcement_delay_caps(answer, expires_after, due_after) -> None:
    material = decision("sec_materiality", "material", datetime(2026, 6, 1, 9, tzinfo=NY))
    extra = {"expires_at": DUE_8K + expires_after} if expires_after else {}
    delay = decision("sec_law_enforcement_delay", answer, DUE_8K - D, **extra)
    states = evaluate(facts(CONTROLLER), [material, delay], now=DUE_8K - D, platform=SEC)
    assert states["sec_8k"].due_at == DUE_8K + due_after


# --- HIPAA 45 CFR 164.412: an oral law-enforcement statement delays 30 days at most --

HIPAA_ORG = {
    "org_a": OrgAttributes(
        organization_id="org_a", jurisdictions=("US-CA",), hipaa_covered_entity=True
    )
}


@pytest.mark.parametrize(
    ("answer", "hipaa_due", "ca_due"),
    [
        # 164.412(a): a written statement delays for the time it specifies
        ("delay_requested", T0 + 90 * D, T0 + 90 * D),
        # 164.412(b): oral, no longer than 30 days from the statement (T0 + 2 h);
        # Cal. Civ. Code 1798.82(c) has no such cap
        ("delay_requested_oral", T0 + 2 * H + 30 * D, T0 + 90 * D),
    ],
)
def test_hipaa_oral_law_enforcement_delay_is_capped_at_30_days(answer, hipaa_due, ca_due) -> None:
    pd = decision("personal_data_involved", "yes", T0)
    delay = decision(
        "law_enforcement_delay",
        answer,
        T0 + 3 * H,
        effective_at=T0 + 2 * H,
        expires_at=T0 + 90 * D,
    )
    states = evaluate(facts(CONTROLLER), [pd, delay], now=T0 + 3 * H, orgs=HIPAA_ORG)
    assert states["hipaa_ba_notice:org_a"].due_at == hipaa_due
    assert states["us_state_ca"].due_at == ca_due


# --- GDPR Art. 33(1): lateness from when the decision was recorded; reasons ---------

BASE = [
    decision("personal_data_involved", "yes", T0 + H),
    decision("risk_assessment", "risk", T0 + 5 * H),
]


def _sa_states(*extra, now):
    return evaluate(facts(CONTROLLER), [*BASE, *extra], now=now)


def test_a_late_notice_without_reasons_is_refused_when_recorded() -> None:
    late = decision("sa_notification", "notified", T0 + 80 * H)
    states = list(_sa_states(now=late.decided_at).values())
    with pytest.raises(DecisionRefused, match="reasons for the delay"):
        refuse_late_without_reasons(TEMPLATE, states, late)


def test_a_late_notice_with_reasons_is_accepted_and_marked_late() -> None:
    late = decision("sa_notification", "notified", T0 + 80 * H, late_reasons="forensic scoping")
    refuse_late_without_reasons(TEMPLATE, list(_sa_states(now=late.decided_at).values()), late)
    sa = _sa_states(late, now=T0 + 81 * H)["sa_notification"]
    assert sa.late and sa.problems == ()


def test_an_earlier_effective_time_does_not_make_a_late_record_timely() -> None:
    # said to be notified at 70 h, recorded at 80 h: judged at 80 h (when recorded)
    backdated = decision("sa_notification", "notified", T0 + 80 * H, effective_at=T0 + 70 * H)
    states = list(_sa_states(now=backdated.decided_at).values())
    with pytest.raises(DecisionRefused, match="after its deadline"):
        refuse_late_without_reasons(TEMPLATE, states, backdated)
    sa = _sa_states(backdated, now=T0 + 81 * H)["sa_notification"]
    assert sa.late and sa.problems


def test_a_timely_notice_needs_no_reasons() -> None:
    timely = decision("sa_notification", "notified", T0 + 71 * H)
    refuse_late_without_reasons(TEMPLATE, list(_sa_states(now=timely.decided_at).values()), timely)
    assert _sa_states(timely, now=T0 + 72 * H)["sa_notification"].late is False


def test_an_effective_time_after_the_recording_is_refused() -> None:
    future = decision("sa_notification", "notified", T0 + 10 * H, effective_at=T0 + 11 * H)
    with pytest.raises(DecisionRefused, match="cannot take effect later"):
        validate_decision(TEMPLATE, future)


# --- GDPR Art. 34(3)(c): the public communication is recorded -----------------------


def test_art_34_3_c_is_done_only_with_the_public_communication() -> None:
    high = [
        decision("personal_data_involved", "yes", T0 + H),
        decision("risk_assessment", "high", T0 + 5 * H),
        decision("data_subject_notice", "exempt_art_34_3_c", T0 + 20 * H),
    ]
    states = evaluate(facts(CONTROLLER), high, now=T0 + 21 * H)
    assert states["data_subject_notice"].status is not ItemStatus.DONE
    assert states["public_communication"].applicable
    published = decision("public_communication", "published", T0 + 30 * H)
    states = evaluate(facts(CONTROLLER), [*high, published], now=T0 + 31 * H)
    assert states["data_subject_notice"].status is ItemStatus.DONE
    notified = decision("data_subject_notice", "notified", T0 + 20 * H)
    states = evaluate(facts(CONTROLLER), [*high[:2], notified], now=T0 + 21 * H)
    assert states["data_subject_notice"].status is ItemStatus.DONE
    assert states["public_communication"].applicable is False


# --- US states: CA AG sample notice, NY DFS and CRAs, owner notice ---------------------

CA_NY = {"org_a": OrgAttributes(organization_id="org_a", jurisdictions=("US-CA", "US-NY"))}


@pytest.mark.parametrize(("scale", "ag_applies"), [("over_500", True), ("up_to_500", False)])
def test_ca_attorney_general_sample_notice_over_500_residents(scale, ag_applies) -> None:
    # Cal. Civ. Code 1798.82(f)
    ca = decision("us_state_ca", "notified", T0 + 10 * D)
    decisions = [decision("personal_data_involved", "yes", T0), ca]
    decisions.append(decision("us_state_ca_scale", scale, T0 + 10 * D))
    states = evaluate(facts(CONTROLLER), decisions, now=T0 + 10 * D, orgs=CA_NY)
    assert states["ca_attorney_general"].applicable is ag_applies
    if ag_applies:
        assert states["ca_attorney_general"].due_at == ca.decided_at


@pytest.mark.parametrize(
    ("dfs", "scale", "dfs_applies", "cra_applies"),
    [
        (True, "over_5000", True, True),
        (False, "over_5000", False, True),
        (True, "up_to_5000", True, False),
    ],
)
def test_ny_dfs_and_consumer_reporting_agencies(dfs, scale, dfs_applies, cra_applies) -> None:
    # N.Y. GBL 899-aa(8)(a) DFS for a covered entity; (8)(b) CRAs above 5,000 residents
    platform = PlatformAttributes(nydfs_covered=dfs)
    decisions = [
        decision("personal_data_involved", "yes", T0),
        decision("us_state_ny", "notified", T0 + 5 * D),
        decision("us_state_ny_scale", scale, T0 + 5 * D),
    ]
    states = evaluate(facts(CONTROLLER), decisions, now=T0 + 5 * D, orgs=CA_NY, platform=platform)
    assert states["ny_dfs_notice"].applicable is dfs_applies
    assert states["ny_consumer_reporting_agencies"].applicable is cra_applies


def test_data_maintained_for_the_owner_means_notice_to_the_owner_not_residents() -> None:
    # Cal. Civ. Code 1798.82(b); N.Y. GBL 899-aa(3): immediately following discovery
    processor = facts(["customer_content"])
    states = evaluate(
        processor, [decision("personal_data_involved", "yes", T0)], now=T0, orgs=CA_NY
    )
    owner = states["us_state_owner_notice:org_a"]
    assert owner.applicable and owner.due_at == T0 + 24 * H  # policy outer limit
    assert states["us_state_ca"].applicable is False
    assert states["us_state_ny"].applicable is False


# --- NIS2 Art. 23 ---------------------------------------------------------------------


def test_nis2_intermediate_report_on_request_and_recipients() -> None:
    # Art. 23(4)(c) on request; Art. 23(1)-(2) recipients
    asked = decision("nis2_intermediate_request", "requested", T0 + 4 * D, expires_at=T0 + 9 * D)
    states = evaluate(facts(CONTROLLER), [asked], now=T0 + 4 * D, platform=NIS2)
    assert states["nis2_intermediate_report"].due_at == T0 + 9 * D
    assert states["nis2_recipients"].applicable
    not_asked = decision("nis2_intermediate_request", "not_requested", T0 + 4 * D)
    states = evaluate(facts(CONTROLLER), [not_asked], now=T0 + 4 * D, platform=NIS2)
    assert states["nis2_intermediate_report"].applicable is False


def test_nis2_progress_report_then_final_report_a_month_after_handling() -> None:
    # Art. 23(4)(d)-(e); month end: handled 31 Jan -> final due 28 Feb
    notified = decision("nis2_notification", "sent", datetime(2026, 1, 2, 9, tzinfo=UTC))
    progress = decision(
        "nis2_final_report", "progress_report_sent", datetime(2026, 2, 2, tzinfo=UTC)
    )
    handled = decision("nis2_incident_handled", "handled", datetime(2026, 1, 31, 12, tzinfo=UTC))
    states = evaluate(
        facts(CONTROLLER, opened_at=datetime(2026, 1, 1, tzinfo=UTC)),
        [notified, progress, handled],
        now=datetime(2026, 2, 3, tzinfo=UTC),
        platform=NIS2,
    )
    assert states["nis2_final_report"].status is ItemStatus.DONE
    assert states["nis2_final_after_progress"].due_at == datetime(2026, 2, 28, 12, tzinfo=UTC)


def test_gdpr_72_hours_are_elapsed_time_across_month_end() -> None:
    # Art. 33(1): 72 h from awareness, 30 Apr 20:00 -> 3 May 20:00
    t0 = datetime(2026, 4, 30, 20, tzinfo=UTC)
    decisions = [
        decision("personal_data_involved", "yes", t0),
        decision("risk_assessment", "risk", t0 + H),
    ]
    states = evaluate(facts(CONTROLLER, opened_at=t0), decisions, now=t0)
    assert states["sa_notification"].due_at == datetime(2026, 5, 3, 20, tzinfo=UTC)
