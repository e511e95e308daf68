"""Helpers shared by the ops tests: where things are, which tools to use,
and the metric names a PromQL expression refers to."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from audit.adapters.metrics import METRICS, PROCESS_SERIES

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"
ALERTS = DASHBOARDS / "prometheus" / "alerts.yaml"
ALERTS_TEST = DASHBOARDS / "prometheus" / "alerts_test.yaml"
GRAFANA = DASHBOARDS / "grafana"
KIBANA = DASHBOARDS / "kibana"
EXPECTED_SERIES = DASHBOARDS / "expected_series.txt"
CHART = REPO / "helm" / "elastra-audit"
MAPPING = REPO / "audit" / "data" / "mappings" / "audit-events.json"

# Grafana's built-in interval variables, replaced to make plain PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def tool(name: str) -> str:
    """Path of promtool or helm: PATH first, then .cache/bin (scripts/setup-ops)."""
    found = shutil.which(name) or shutil.which(name, path=str(REPO / ".cache" / "bin"))
    if found is None:
        pytest.fail(f"{name} not found: run scripts/setup-ops to install it")
    return found


def exported_names() -> frozenset[str]:
    """Series names the service exposes: histograms as _bucket/_sum/_count."""
    names: set[str] = set(PROCESS_SERIES)
    for spec in METRICS:
        if spec.kind == "histogram":
            names.update(f"{spec.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(spec.name)
    return frozenset(names)


_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_NUMBER = re.compile(r"^\d")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (functions, labels and keywords removed)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGE.sub("", text)
    text = _GROUPING.sub("", text)
    return {m for m in _IDENT.findall(text) if m.lower() not in _KEYWORDS and not _NUMBER.match(m)}


def alert_rules() -> list[dict]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def grafana_dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(GRAFANA.glob("*.json"))}


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def grafana_exprs() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL with Grafana variables replaced)."""
    found = []
    for name, dash in grafana_dashboards().items():
        for panel in _panels(dash["panels"]):
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if not expr:
                    continue
                for var, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(var, value)
                found.append((name, panel.get("title", ""), expr))
    return found


def used_series() -> set[str]:
    """Every series name the alert rules and the dashboards query."""
    used: set[str] = set()
    for rule in alert_rules():
        used |= metric_names(rule["expr"])
    for _, _, expr in grafana_exprs():
        used |= metric_names(expr)
    return used
