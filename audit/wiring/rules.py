"""The detection rules a process runs: the bundled pack, or the operator's directory."""

from __future__ import annotations

from pathlib import Path

from audit.adapters.bundled_data import load_rule_dir
from audit.domain.detection import RuleBase


def load_rules(directory: str | Path | None = None) -> tuple[RuleBase, ...]:
    """Every rule of ``directory`` (``AUDIT_RULES_DIR``; None: the bundled pack).

    Raises ``RuleFileError`` listing every problem of every file with its line.
    """
    return load_rule_dir(directory)
