"""The personal-data fields of an event: the one list the trail, data-subject
requests and per-field ageing all read.

The list is the contract's "Personal data in an event" table
(``shared/contract/EVENTS.md``), documented again in
``docs/contract-extensions.md``. ``source.geo.country_iso_code`` is not in
it: the contract keeps country alone as operational. Each field belongs to
one subject: the actor (``user.*`` and what describes their client) or the
user acted upon (``user.target.*``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

Subject = Literal["actor", "target"]

PERSONAL_FIELDS: Final[dict[str, Subject]] = {
    "user.id": "actor",
    "user.name": "actor",
    "user.email": "actor",
    "user.target.id": "target",
    "user.target.name": "target",
    "source.ip": "actor",
    "source.geo.city_name": "actor",
    "source.geo.location": "actor",
    "user_agent.original": "actor",
    "elastra.device.id": "actor",
    "elastra.session.id": "actor",
}

# Which identifier names a subject (and so picks their key), in order of preference.
SUBJECT_IDENTIFIERS: Final[dict[Subject, tuple[str, ...]]] = {
    "actor": ("user.id", "user.email", "user.name", "source.ip"),
    "target": ("user.target.id", "user.target.name"),
}

_MISSING = object()
_PARTS: Final = {path: tuple(path.split(".")) for path in PERSONAL_FIELDS}


def _tree(paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """{"user": {"id": None, ...}, ...}: where personal fields sit (None = a leaf)."""
    root: dict[str, Any] = {}
    for parts in paths:
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = None
    return root


_TREE: Final = _tree(list(_PARTS.values()))


def get_value(document: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` or ``None`` when absent (JSON null counts as absent)."""
    node: Any = document
    for part in _PARTS.get(path) or path.split("."):
        if not isinstance(node, dict) and not isinstance(node, Mapping):
            return None
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return None
    return node


def personal_values(document: Mapping[str, Any]) -> dict[str, Any]:
    """Every personal field present in ``document``, by path."""
    out: dict[str, Any] = {}
    for path in PERSONAL_FIELDS:
        value = get_value(document, path)
        if value is not None:
            out[path] = value
    return out


def without_personal(document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with every personal field removed (objects left empty by
    the removal are removed too, so an erased document and the stripped form
    of the original are equal). Only the objects on a personal field's path
    are copied; the rest is shared with ``document``, never mutated."""
    return _strip(document, _TREE)


def _strip(node: Mapping[str, Any], tree: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(node)
    for key, sub in tree.items():
        if key not in out:
            continue
        if sub is None:
            del out[key]
            continue
        child = out[key]
        if isinstance(child, Mapping):
            kept = _strip(child, sub)
            if child and not kept:
                del out[key]
            else:
                out[key] = kept
    return out


def remove_value(document: dict[str, Any], path: str) -> bool:
    """Remove ``path`` from ``document`` in place (and parents it leaves
    empty); True if something was removed."""
    parts = path.split(".")
    trail: list[tuple[dict[str, Any], str]] = []
    node: Any = document
    for part in parts[:-1]:
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            return False
        trail.append((node, part))
        node = child
    if not isinstance(node, dict) or parts[-1] not in node:
        return False
    del node[parts[-1]]
    for parent, key in reversed(trail):
        if parent[key] == {}:
            del parent[key]
        else:
            break
    return True


def set_value(document: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = document
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def subject_identifier(
    document: Mapping[str, Any], subject: Subject, values: Mapping[str, Any] | None = None
) -> str | None:
    """``kind:value`` naming the subject a field belongs to (``None``: the
    event names nobody of that kind). ``values``: ``personal_values(document)``
    if already read."""
    for path in SUBJECT_IDENTIFIERS[subject]:
        value = values.get(path) if values is not None else get_value(document, path)
        if isinstance(value, str) and value:
            return f"{path}:{value}"
    return None
