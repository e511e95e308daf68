"""The events mapping, enforced as the node enforces it on a ``create``.

Loaded from the same versioned template the real event store installs
(``audit/data/mappings/audit-events.json``). Unmapped fields are accepted
(the mapping is ``dynamic: false``); a mapped field with a value of the wrong
kind is refused with the node's ``document_parsing_exception``.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any


@cache
def event_fields() -> dict[str, str]:
    """Dotted field -> mapped type (``object`` for objects)."""
    text = (resources.files("audit") / "data" / "mappings" / "audit-events.json").read_text()
    properties = json.loads(text)["template"]["mappings"]["properties"]
    fields: dict[str, str] = {}

    def walk(prefix: str, props: dict[str, Any]) -> None:
        for name, spec in props.items():
            if "properties" in spec:
                fields[prefix + name] = "object"
                walk(prefix + name + ".", spec["properties"])
            else:
                fields[prefix + name] = spec.get("type", "object")

    walk("", properties)
    return fields


def _fits(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if kind == "object":
        return isinstance(value, dict)
    if isinstance(value, dict):
        return kind == "geo_point" and {"lat", "lon"} <= value.keys()
    if kind == "keyword":
        return isinstance(value, str | int | float | bool)
    if kind == "long":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        return isinstance(value, str) and value.lstrip("-").isdigit()
    if kind == "date":
        if isinstance(value, int) and not isinstance(value, bool):
            return True  # epoch_millis
        if not isinstance(value, str):
            return False
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    if kind == "ip":
        try:
            ipaddress.ip_address(str(value))
        except ValueError:
            return False
        return True
    if kind == "geo_point":
        return isinstance(value, str | list)
    return True


def mapping_error(source: dict[str, Any], doc_id: str) -> str | None:
    """The node's refusal of ``source``, or None if it would be stored."""
    fields = event_fields()

    def walk(prefix: str, node: dict[str, Any]) -> str | None:
        for name, value in node.items():
            path = prefix + name
            kind = fields.get(path)
            if kind is None:
                continue  # dynamic: false, kept in _source, not indexed
            for item in value if isinstance(value, list) else [value]:
                if not _fits(kind, item):
                    if kind == "object":
                        return (
                            f"document_parsing_exception: object mapping for [{path}] tried "
                            f"to parse field [{name}] as object, but found a concrete value"
                        )
                    return (
                        f"document_parsing_exception: failed to parse field [{path}] of type "
                        f"[{kind}] in document with id '{doc_id}'"
                    )
                if kind == "object" and isinstance(item, dict):
                    problem = walk(path + ".", item)
                    if problem:
                        return problem
        return None

    return walk("", source)


_FORBIDDEN = set('\\/*?"<>| ,#:')


def index_name_error(index: str) -> str | None:
    """The node's refusal of an index name, or None."""
    if (
        not index
        or index != index.lower()
        or index[0] in "_-+"
        or index in (".", "..")
        or any(c in _FORBIDDEN for c in index)
        or len(index.encode()) > 255
    ):
        return f"invalid_index_name_exception: Invalid index name [{index}]"
    return None
