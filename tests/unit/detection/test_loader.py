"""Rule files: every problem of every file reported with file and line."""

from __future__ import annotations

import pytest

from audit.domain.detection import RuleFileError, parse_rule_text, parse_rule_texts
from audit.domain.detection.rules import RULE_TYPES, ThresholdRule

GOOD = """\
type: threshold
id: test.rule
name: test
description: a test rule
severity: low
mitre: {technique: T1110}
data_categories: [authentication_security]
false_positives: none
group_by: [organization.id]
where:
  - {field: event.action, eq: user.login}
window: 5m
threshold: 3
"""

BAD = """\
type: threshold
id: Bad Id
name: test
description: a test rule
severity: urgent
mitre: {technique: X1}
data_categories: [authentication_security, secrets]
false_positives: none
group_by: [organization.id]
where:
  - {field: event.action, eq: user.login, in: [a]}
  - not: {field: event.outcome, gtx: 3}
  - any:
      - {field: x, lt: "abc"}
window: 5 minutes
threshold: 0
colour: blue
"""


def test_good_rule_is_typed_and_frozen() -> None:
    rule, problems = parse_rule_text(GOOD, "good.yaml")
    assert problems == []
    assert isinstance(rule, ThresholdRule)
    assert rule.window.total_seconds() == 300
    with pytest.raises(ValueError):
        rule.threshold = 5  # type: ignore[misc]


def test_every_error_is_listed_with_its_line() -> None:
    rule, problems = parse_rule_text(BAD, "rules/bad.yaml")
    assert rule is None
    got = {(p.line, p.where) for p in problems}
    assert got == {
        (2, "id"),
        (5, "severity"),
        (6, "mitre.technique"),
        (7, "data_categories[1]"),
        (11, "where[0]"),
        (12, "where[1].not.gtx"),
        (14, "where[2].any[0].lt"),
        (15, "window"),
        (16, "threshold"),
        (17, "colour"),
    }
    assert all(str(p).startswith(f"rules/bad.yaml:{p.line}: ") for p in problems)


def test_all_files_are_checked_before_refusing() -> None:
    unknown = GOOD.replace("type: threshold", "type: magic")
    broken = "type: match\nid: [unclosed\n"
    dupkey = GOOD.replace("threshold: 3", "threshold: 3\nthreshold: 4")
    with pytest.raises(RuleFileError) as info:
        parse_rule_texts(
            [
                ("a.yaml", BAD),
                ("b.yaml", unknown),
                ("c.yaml", broken),
                ("d.yaml", dupkey),
                ("e.yaml", GOOD),
                ("f.yaml", GOOD),
            ]
        )
    files = {(p.file, p.line) for p in info.value.problems}
    assert ("b.yaml", 1) in files  # the type line
    assert ("c.yaml", 3) in files
    assert ("d.yaml", 14) in files
    assert any(
        p.file == "f.yaml" and "already defined in e.yaml" in p.message for p in info.value.problems
    )
    assert sum(p.file == "a.yaml" for p in info.value.problems) == 10
    assert "b.yaml:1: type: unknown rule type 'magic'" in str(info.value)


def test_sequence_join_must_fit_group_by() -> None:
    text = GOOD.replace("type: threshold", "type: sequence").replace("threshold: 3\n", "")
    text += """steps:
  - name: one
    where: [{field: event.action, eq: a}]
    join: [organization.id, user.id]
  - name: two
    where: [{field: event.action, eq: b}]
"""
    _, problems = parse_rule_text(text, "seq.yaml")
    (problem,) = problems
    assert problem.line == 13 and "steps[0].join has 2 fields" in problem.message


def test_registry_names_every_type() -> None:
    assert set(RULE_TYPES) == {
        "match",
        "threshold",
        "value_count",
        "sequence",
        "new_value",
        "geo_velocity",
        "sum",
    }
