"""Organization/platform attributes and checklist templates, read from their files."""

from __future__ import annotations

from pathlib import Path

from audit.domain.checklists import (
    AttributesConfig,
    ChecklistTemplate,
    bundled_template_path,
    parse_attributes,
    parse_template,
)
from audit.errors import ConfigurationError

BUNDLED_ATTRIBUTES = Path(__file__).resolve().parents[1] / "data" / "organizations.example.yaml"
INCIDENT_TEMPLATE = "incident_disclosure.v1"
LAWFUL_REQUEST_TEMPLATE = "lawful_request.v1"


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigurationError(f"cannot read the {what} {path}: {err.strerror}") from err


def load_attributes(path: str | Path | None) -> AttributesConfig:
    """The attributes file (``AUDIT_ORGANIZATIONS_FILE``; None: the bundled example)."""
    chosen = Path(path) if path else BUNDLED_ATTRIBUTES
    return parse_attributes(_read(chosen, "organizations file"), str(chosen))


def load_template(name: str) -> ChecklistTemplate:
    """A checklist template bundled in ``audit/data/checklists``."""
    path = bundled_template_path(name)
    return parse_template(_read(path, "checklist template"), str(path))
