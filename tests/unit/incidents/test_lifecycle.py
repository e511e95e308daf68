from datetime import timedelta

import pytest

from audit.adapters.bundled_data import load_checklist_template
from audit.domain.incidents import (
    IncidentStatus,
    allowed_next,
    assign,
    history_is_extension,
    open_incident,
    transition,
)
from audit.errors import InvalidTransition

from .helpers import T0, detection

S = IncidentStatus
ALLOWED = {
    (S.OPEN, S.ACKNOWLEDGED),
    (S.ACKNOWLEDGED, S.INVESTIGATING),
    (S.INVESTIGATING, S.CONTAINED),
    (S.CONTAINED, S.RESOLVED),
    (S.RESOLVED, S.CLOSED),
    *((s, S.FALSE_POSITIVE) for s in S if s not in (S.CLOSED, S.FALSE_POSITIVE)),
}
PATH = [S.OPEN, S.ACKNOWLEDGED, S.INVESTIGATING, S.CONTAINED, S.RESOLVED, S.CLOSED]


def at_status(status: S):
    incident = open_incident(detection("d1"), T0)
    if status is S.FALSE_POSITIVE:
        return transition(incident, status, by="u", at=T0, why="test traffic")
    for step in PATH[1 : PATH.index(status) + 1]:
        incident = transition(incident, step, by="u", at=T0)
    return incident


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transitions_table(source: S, target: S) -> None:
    incident = at_status(source)
    assert incident.status is source
    if (source, target) in ALLOWED:
        moved = transition(incident, target, by="dana", at=T0 + timedelta(hours=1), why="r")
        assert moved.status is target
        assert moved.history[-1].changes == {"from": source.value, "to": target.value}
    else:
        with pytest.raises(InvalidTransition) as err:
            transition(incident, target, by="dana", at=T0, why="r")
        allowed = allowed_next(source)
        message = str(err.value)
        assert source.value in message and target.value in message
        if allowed:
            assert "allowed next: " + ", ".join(s.value for s in allowed) in message
        else:
            assert "is final" in message


def test_false_positive_needs_a_reason_and_records_it() -> None:
    incident = at_status(S.INVESTIGATING)
    with pytest.raises(InvalidTransition, match="needs a reason"):
        transition(incident, "false_positive", by="dana", at=T0, why="  ")
    closed = transition(incident, "false_positive", by="dana", at=T0, why="pentest window")
    assert closed.closure_reason == "pentest window"


def test_unknown_status_is_refused_with_the_list() -> None:
    with pytest.raises(InvalidTransition, match=r"unknown status 'done'.*open, acknowledged"):
        transition(at_status(S.OPEN), "done", by="u", at=T0)


def test_changes_append_history_and_leave_the_original_untouched() -> None:
    incident = at_status(S.OPEN)
    later = assign(incident, "sam", by="lead", at=T0 + timedelta(minutes=3), why="on call")
    later = transition(later, S.ACKNOWLEDGED, by="sam", at=T0 + timedelta(minutes=4))
    assert incident.assignee is None and incident.status is S.OPEN
    assert len(incident.history) == 1
    assert [h.action for h in later.history] == ["opened", "assigned", "status_changed"]
    assert later.history[1].by == "lead" and later.history[1].why == "on call"
    assert history_is_extension(incident, later)
    rewritten = later.model_copy(update={"history": later.history[1:]})
    assert not history_is_extension(later, rewritten)
    with pytest.raises(Exception):  # frozen
        later.status = S.CLOSED  # type: ignore[misc]


def test_closed_incident_cannot_be_assigned() -> None:
    with pytest.raises(InvalidTransition, match="closed"):
        assign(at_status(S.CLOSED), "sam", by="lead", at=T0)


def test_decisions_and_hold_requests_are_recorded_in_history() -> None:
    from audit.domain.checklists import DecisionRefused
    from audit.domain.incidents import legal_hold_request, record_decision

    from .helpers import decision

    template = load_checklist_template("incident_disclosure.v1")
    incident = at_status(S.INVESTIGATING)
    first = record_decision(incident, decision("risk_assessment", "risk", T0), template)
    second = record_decision(first, decision("risk_assessment", "high", T0 + timedelta(hours=1)))
    assert [h.action for h in second.history][-2:] == ["decision_recorded", "decision_amended"]
    assert [d.answer for d in second.decisions] == ["risk", "high"]
    with pytest.raises(DecisionRefused):
        record_decision(second, decision("risk_assessment", "maybe", T0), template)
    hold = legal_hold_request(second, by="counsel", at=T0)
    assert hold.source == f"incident:{incident.id}"
    assert hold.hold_id == legal_hold_request(incident, by="x", at=T0).hold_id
    assert hold.expires_at is None
