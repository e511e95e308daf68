"""The one tenant-scope filter of every store query.

``None`` is platform scope: no filter. Any sequence is a set of
organizations to match; an empty one (or one of blanks only) matches
NOTHING. A scope that names nobody must never widen into "every tenant"
(issue 11: an empty ``orgs`` claim once listed other tenants' incidents).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MATCH_NONE: dict[str, Any] = {"match_none": {}}


def scope_clause(organization_ids: Sequence[str] | None, *fields: str) -> dict[str, Any] | None:
    """A filter clause: any of ``fields`` holds one of the organizations; None: no filter."""
    if organization_ids is None:
        return None
    ids = sorted({o for o in organization_ids if o and o.strip()})
    if not ids:
        return MATCH_NONE
    if len(fields) == 1:
        return {"terms": {fields[0]: ids}}
    return {"bool": {"should": [{"terms": {f: ids}} for f in fields], "minimum_should_match": 1}}


def with_scope(
    query: dict[str, Any], organization_ids: Sequence[str] | None, *fields: str
) -> dict[str, Any]:
    """``query`` (a bool filter or match_all) restricted to the scope."""
    clause = scope_clause(organization_ids, *fields)
    if clause is None:
        return query
    if "bool" in query:
        return {"bool": {**query["bool"], "filter": [*query["bool"].get("filter", []), clause]}}
    return {"bool": {"filter": [clause]}}


# An incident or a detection belongs to its owners and to the organizations it
# affects: both see it (redacted when it also touches others).
RECORD_ORG_FIELDS = ("organization_ids", "affected_organization_ids")
