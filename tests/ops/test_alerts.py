"""Alert rules: promtool checks and unit tests, annotations, runbooks, names."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.ops.promql import (
    ALERTS,
    ALERTS_TEST,
    REPO,
    alert_rules,
    exported_names,
    metric_names,
    tool,
)

RUNBOOK = re.compile(r"/docs/runbooks/([A-Za-z0-9]+)\.md$")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules():
    result = _run(tool("promtool"), "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests():
    result = _run(tool("promtool"), "test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_fires_and_one_that_does_not():
    import yaml

    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    fires, silent = set(), set()
    for case in tests:
        for check in case["alert_rule_test"]:
            (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fires == set(), "alerts never shown to fire"
    assert names - silent == set(), "alerts never shown to stay silent"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_is_documented(rule):
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    annotations = rule["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    match = RUNBOOK.search(annotations["runbook_url"])
    assert match and match.group(1) == rule["alert"], annotations["runbook_url"]
    runbook = REPO / "docs" / "runbooks" / f"{rule['alert']}.md"
    assert runbook.is_file(), f"missing {runbook.relative_to(REPO)}"
    text = runbook.read_text()
    for section in ("**Means.**", "**Confirm.**", "**Do.**"):
        assert section in text, f"{runbook.name} lacks {section}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_uses_only_exported_metrics(rule):
    names = metric_names(rule["expr"])
    assert names, "no metric found in the expression"
    assert names <= exported_names(), f"unknown metrics: {sorted(names - exported_names())}"


_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def _outcomes_named(text: str, metric: str) -> set[str]:
    """The ``outcome`` values the selectors of ``metric`` in ``text`` name
    (each alternative of a regular-expression matcher)."""
    named: set[str] = set()
    for selector in re.findall(re.escape(metric) + r"\{([^}]*)\}", text):
        for label, _, value in _MATCHER.findall(selector):
            if label == "outcome":
                named.update(value.split("|"))
    return named


def test_notification_alert_and_its_tests_name_outcomes_the_notifier_reports():
    # The rule once matched outcome="success", which the notifier never
    # reports: every delivered notification counted as a failure and the
    # alert fired while all was well.
    from audit.adapters.webhook import OUTCOMES

    expression = next(r["expr"] for r in alert_rules() if r["alert"] == "AuditNotificationsFailing")
    in_rule = _outcomes_named(expression, "audit_notifications_total")
    in_tests = _outcomes_named(ALERTS_TEST.read_text(), "audit_notifications_total")
    assert in_rule and in_tests
    assert in_rule <= OUTCOMES, sorted(in_rule - OUTCOMES)
    assert in_tests <= OUTCOMES, sorted(in_tests - OUTCOMES)
