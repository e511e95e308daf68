"""ECS field names the project shares, and reading them from a nested event document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MISSING = object()

# The entities an event names, by their ECS field: who acted, from where,
# with which credential (a token or an API key), in which session, on whom.
# Detection routing copies them into every routed record; incident
# correlation joins detections that share one; the API's entity timeline
# searches by them.
USER_FIELD = "user.id"
SOURCE_IP_FIELD = "source.ip"
CREDENTIAL_FIELDS = ("elastra.token.id", "elastra.api_key.id")
SESSION_FIELD = "elastra.session.id"
TARGET_USER_FIELD = "user.target.id"
ENTITY_FIELDS = (USER_FIELD, SOURCE_IP_FIELD, *CREDENTIAL_FIELDS, SESSION_FIELD, TARGET_USER_FIELD)
#: The fields of each kind of entity a person looks up (the API's ``entity=``).
ENTITY_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "user": (USER_FIELD,),
    "ip": (SOURCE_IP_FIELD,),
    "credential": CREDENTIAL_FIELDS,
    "session": (SESSION_FIELD,),
}


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
