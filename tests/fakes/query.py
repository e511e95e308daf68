"""The part of the Elasticsearch query DSL the services send, evaluated in memory.

Only what the project's queries use (``bool`` with filter/must/must_not/should,
``term``, ``terms``, ``range``, ``ids``, ``match_all``) with Elasticsearch's
semantics: a field holding a list matches if any value does, a missing field
matches no term, ``range`` compares dates as instants and numbers as numbers.
Anything else is refused as the node refuses an unknown query (400).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.fakes.faults import bad_request


def field_values(document: dict[str, Any], path: str) -> list[Any]:
    """Every value at dotted ``path`` (objects and arrays of objects walked)."""
    nodes: list[Any] = [document]
    for part in path.split("."):
        found: list[Any] = []
        for node in nodes:
            if isinstance(node, dict) and part in node:
                value = node[part]
                found.extend(value if isinstance(value, list) else [value])
            elif isinstance(node, list):
                for item in node:
                    if isinstance(item, dict) and part in item:
                        found.append(item[part])
        nodes = found
    return [v for v in nodes if v is not None]


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _in_range(value: Any, bounds: dict[str, Any]) -> bool:
    left = _comparable(value)
    checks = {
        "gte": lambda a, b: a >= b,
        "gt": lambda a, b: a > b,
        "lte": lambda a, b: a <= b,
        "lt": lambda a, b: a < b,
    }
    for op, bound in bounds.items():
        if op not in checks:
            raise bad_request("parsing_exception", f"[range] unknown parameter [{op}]")
        try:
            if not checks[op](left, _comparable(bound)):
                return False
        except TypeError:
            return False
    return True


def matches(query: dict[str, Any], document: dict[str, Any], doc_id: str = "") -> bool:
    """Whether ``document`` (stored under ``doc_id``) is selected by ``query``."""
    if len(query) != 1:
        raise bad_request("parsing_exception", f"a query has one clause, got {sorted(query)}")
    ((kind, body),) = query.items()
    if kind == "match_all":
        return True
    if kind == "ids":
        return doc_id in body["values"]
    if kind == "term":
        ((field, wanted),) = body.items()
        wanted = wanted["value"] if isinstance(wanted, dict) else wanted
        return wanted in field_values(document, field)
    if kind == "terms":
        ((field, wanted),) = body.items()
        return any(v in wanted for v in field_values(document, field))
    if kind == "range":
        ((field, bounds),) = body.items()
        return any(_in_range(v, bounds) for v in field_values(document, field))
    if kind == "bool":
        return _bool(body, document, doc_id)
    raise bad_request("parsing_exception", f"unknown query [{kind}]")


def _clauses(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = body.get(key, [])
    return value if isinstance(value, list) else [value]


def _bool(body: dict[str, Any], document: dict[str, Any], doc_id: str) -> bool:
    unknown = set(body) - {"filter", "must", "must_not", "should", "minimum_should_match"}
    if unknown:
        raise bad_request("parsing_exception", f"[bool] unknown field {sorted(unknown)}")
    required = _clauses(body, "filter") + _clauses(body, "must")
    if not all(matches(q, document, doc_id) for q in required):
        return False
    if any(matches(q, document, doc_id) for q in _clauses(body, "must_not")):
        return False
    should = _clauses(body, "should")
    minimum = int(body.get("minimum_should_match", 0 if required else 1 if should else 0))
    return sum(matches(q, document, doc_id) for q in should) >= minimum
