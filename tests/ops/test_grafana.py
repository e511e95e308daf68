"""Grafana dashboards: valid JSON, a datasource variable, PromQL that
promtool parses, and only metrics the service exports."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.ops.promql import exported_names, grafana_dashboards, grafana_exprs, metric_names, tool

DASHBOARDS = grafana_dashboards()


def test_the_four_dashboards_exist():
    assert set(DASHBOARDS) == {"ingest.json", "detection.json", "incidents.json", "integrity.json"}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_datasource_is_a_template_variable(name):
    dash = DASHBOARDS[name]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    uids = [p["datasource"]["uid"] for p in dash["panels"] if p["type"] != "row"]
    uids += [t["datasource"]["uid"] for p in dash["panels"] for t in p.get("targets", [])]
    assert uids and set(uids) == {"${datasource}"}


def test_dashboard_uids_are_unique():
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(uids) == len(set(uids))


def test_promtool_parses_every_dashboard_expression(tmp_path):
    exprs = grafana_exprs()
    assert len(exprs) > 20
    rules = {
        "groups": [
            {
                "name": "grafana",
                "rules": [
                    {"record": f"grafana:expr_{i}", "expr": expr}
                    for i, (_, _, expr) in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "grafana_rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("where", grafana_exprs(), ids=lambda w: f"{w[0]}:{w[1]}")
def test_dashboard_uses_only_exported_metrics(where):
    _, _, expr = where
    names = metric_names(expr)
    assert names, f"no metric in {expr}"
    assert names <= exported_names(), f"unknown metrics: {sorted(names - exported_names())}"


def test_every_metric_the_service_defines_is_on_a_dashboard():
    from audit.adapters.metrics import METRICS

    shown = set()
    for _, _, expr in grafana_exprs():
        shown |= metric_names(expr)
    suffixes = ("", "_bucket", "_sum", "_count")
    missing = [spec.name for spec in METRICS if not shown & {spec.name + s for s in suffixes}]
    assert missing == [], "add a panel for each (dashboards/grafana/)"
