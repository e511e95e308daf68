"""Reading the data files: the bundled ones (``audit/data``) and the operator's overrides.

The one place that reads rules, checklist templates, the retention policy
and the organizations file. The domain only parses text (``parse_*``);
services receive the parsed objects from the wiring. Bundled files are read
with ``importlib.resources`` (they work from a wheel or a zip, not only from
a source tree); an override path named in the settings is read from disk.
Errors name the file (and, from the parsers, the line).
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from audit.domain.checklists import (
    AttributesConfig,
    ChecklistTemplate,
    parse_attributes,
    parse_template,
)
from audit.domain.detection import RuleBase, parse_rule_texts
from audit.domain.retention import RetentionPolicy, parse_policy
from audit.errors import ConfigurationError

_RULE_SUFFIXES = (".yaml", ".yml")


def _bundled(*parts: str) -> Traversable:
    node = resources.files("audit") / "data"
    for part in parts:
        node = node / part
    return node


def _read(source: Traversable | Path, what: str) -> str:
    try:
        return source.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigurationError(f"cannot read the {what} {source}: {err.strerror}") from err


def bundled_text(relative: str) -> str:
    """The text of a bundled file (``"retention/policy.yaml"``), for tools and tests."""
    return _read(_bundled(*relative.split("/")), "bundled file")


def load_rule_dir(directory: str | Path | None = None) -> tuple[RuleBase, ...]:
    """Every ``*.yaml``/``*.yml`` rule under ``directory`` (default: the bundled pack)."""
    if directory is None:
        base = _bundled("rules")
        names = sorted(p.name for p in base.iterdir() if p.name.endswith(_RULE_SUFFIXES))
        return parse_rule_texts(
            (f"audit/data/rules/{n}", _read(base / n, "rule file")) for n in names
        )
    root = Path(directory)
    if not root.is_dir():
        raise ConfigurationError(f"rule directory {root} does not exist: pass an existing one")
    paths = sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")])
    if not paths:
        raise ConfigurationError(f"no *.yaml rule files in {root}")
    return parse_rule_texts((str(p), _read(p, "rule file")) for p in paths)


def load_checklist_template(name: str) -> ChecklistTemplate:
    """A template bundled in ``audit/data/checklists`` (``incident_disclosure.v1``)."""
    source = _bundled("checklists", f"{name}.yaml")
    if not source.is_file():
        raise ConfigurationError(f"no bundled checklist template named {name!r}")
    return parse_template(_read(source, "checklist template"), f"audit/data/checklists/{name}.yaml")


def load_template_file(path: str | Path) -> ChecklistTemplate:
    """A checklist template from a file of the operator's."""
    return parse_template(_read(Path(path), "checklist template"), str(path))


def load_retention_policy(path: str | Path | None = None) -> RetentionPolicy:
    """The policy at ``path`` (``AUDIT_RETENTION_POLICY_FILE``), or the bundled one."""
    if path:
        return parse_policy(_read(Path(path), "retention policy"), str(path))
    bundled = _bundled("retention", "policy.yaml")
    return parse_policy(_read(bundled, "retention policy"), "audit/data/retention/policy.yaml")


def load_attributes(path: str | Path | None = None) -> AttributesConfig:
    """The organizations file (``AUDIT_ORGANIZATIONS_FILE``), or the bundled example."""
    if path:
        return parse_attributes(_read(Path(path), "organizations file"), str(path))
    name = "organizations.example.yaml"
    return parse_attributes(_read(_bundled(name), "organizations file"), f"audit/data/{name}")
