"""Loading the data files: the bundled ones, an operator's override, and bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.adapters.bundled_data import (
    bundled_text,
    load_attributes,
    load_checklist_template,
    load_retention_policy,
    load_rule_dir,
    load_template_file,
)
from audit.domain.detection import RuleFileError
from audit.domain.retention import RetentionPolicyError
from audit.errors import ConfigurationError


def test_the_bundled_data_loads() -> None:
    rules = load_rule_dir()
    assert len(rules) >= 10 and len({r.id for r in rules}) == len(rules)
    assert load_checklist_template("incident_disclosure.v1").kind == "incident"
    assert load_retention_policy().class_for("customer_content", None) == "standard"
    assert "org_7f3a" in load_attributes().organizations


def test_an_override_path_wins_over_the_bundled_file(tmp_path: Path) -> None:
    text = bundled_text("retention/policy.yaml").replace(
        "delete_after_days: 2557", "delete_after_days: 3000"
    )
    custom = tmp_path / "policy.yaml"
    custom.write_text(text)
    assert load_retention_policy(custom) != load_retention_policy()
    template = tmp_path / "t.yaml"
    template.write_text(bundled_text("checklists/lawful_request.v1.yaml"))
    assert load_template_file(template).kind == "lawful_request"


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the organizations file"):
        load_attributes(tmp_path / "missing.yaml")
    with pytest.raises(ConfigurationError, match="no bundled checklist template named 'nope'"):
        load_checklist_template("nope")
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_rule_dir(tmp_path / "no-such-dir")
    with pytest.raises(ConfigurationError, match=r"no \*\.yaml rule files"):
        load_rule_dir(tmp_path)
    broken = tmp_path / "policy.yaml"
    broken.write_text(
        bundled_text("retention/policy.yaml").replace("warm_replicas: 0", "warm_replicas: -1")
    )
    with pytest.raises(RetentionPolicyError, match=str(broken)):
        load_retention_policy(broken)


def test_a_bad_rule_file_is_reported_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("id: x\ntype: no_such_type\n")
    with pytest.raises(RuleFileError) as caught:
        load_rule_dir(tmp_path)
    assert all(str(tmp_path / "bad.yaml") in str(p) for p in caught.value.problems)
