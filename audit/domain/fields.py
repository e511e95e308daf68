"""Reading ECS fields by their dotted names from a nested event document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MISSING = object()


def get_path(document: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at ``path`` ("source.geo.country_iso_code"), or ``default``."""
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return default
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return default
    return node
