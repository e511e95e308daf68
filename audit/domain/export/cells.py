"""CSV rendering of stored documents, safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return could be run as a formula by a spreadsheet (CSV/formula injection);
such a cell gets a single quote in front, which spreadsheets show as text.
Numbers and booleans are written as they are (a negative number is not a
formula). Nested values (lists, geo points) are written as canonical JSON.
Fields outside ``CSV_COLUMNS`` go, as canonical JSON, into ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.domain.fields import get_path
from audit.domain.integrity.canonical import INTEGRITY_FIELD, canonical_json

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS: tuple[str, ...] = (
    "@timestamp",
    "event.id",
    "event.action",
    "event.outcome",
    "event.reason",
    "event.provider",
    "event.category",
    "event.type",
    "event.ingested",
    "organization.id",
    "organization.name",
    "user.id",
    "user.name",
    "user.email",
    "user.roles",
    "user.target.id",
    "user.target.name",
    "source.ip",
    "source.geo.country_iso_code",
    "source.geo.city_name",
    "source.geo.location",
    "source.as.number",
    "source.as.organization.name",
    "user_agent.original",
    "elastra.data_category",
    "elastra.session.id",
    "elastra.token.id",
    "elastra.api_key.id",
    "elastra.device.id",
    "elastra.mfa.method",
    "elastra.sso.protocol",
    "elastra.sso.idp",
    "elastra.role",
    "elastra.resource.type",
    "elastra.resource.id",
    "elastra.resource.organization_id",
    "elastra.records",
    "elastra.bytes",
    "elastra.request.id",
    "integrity.chain",
    "integrity.seq",
    "integrity.prev_hash",
    "integrity.hash",
)
EXTRA_COLUMN = "extra"


def neutralize_cell(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet could read it as a formula."""
    if value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def restore_cell(value: str) -> str:
    """The original text of a neutralized cell (inverse of ``neutralize_cell``)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return neutralize_cell(value)
    return neutralize_cell(canonical_json(value).decode("utf-8"))


def csv_header() -> list[str]:
    return [*CSV_COLUMNS, EXTRA_COLUMN]


def _without(document: Mapping[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``document`` without the values at ``paths`` (empty objects dropped)."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if node is None:
                break
        else:
            node[parts[-1]] = None

    def prune(value: Any, cut: dict[str, Any]) -> Any:
        if not isinstance(value, Mapping):
            return value
        kept: dict[str, Any] = {}
        for key, child in value.items():
            if key in cut and cut[key] is None:
                continue
            rest = prune(child, cut[key]) if key in cut else child
            if rest != {} or key not in cut:
                kept[key] = rest
        return kept

    result: dict[str, Any] = prune(document, tree)
    return result


def csv_row(document: Mapping[str, Any]) -> list[str]:
    """One CSV row (cells in ``csv_header()`` order) for a stored document."""
    row = [_cell(get_path(document, column)) for column in CSV_COLUMNS]
    extra = _without(document, CSV_COLUMNS)
    extra.pop(INTEGRITY_FIELD, None)
    row.append(_cell(extra) if extra else "")
    return row
