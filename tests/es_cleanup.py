"""Removing what one test left in the shared test node.

A test names its indices and index templates ``<prefix>-...``: the events
template per index prefix, and one template per service index (the service
installs them so that a deleted index comes back with its mapping). Left
behind, templates pile up in the node for the rest of the run.
"""

from __future__ import annotations

import contextlib

from elasticsearch import Elasticsearch, NotFoundError

_NAMES_PER_REQUEST = 100  # a request line over 4 KB is refused


def drop_prefixed(es: Elasticsearch, prefix: str) -> None:
    """Delete every index and index template named ``<prefix>-*``."""
    pattern = f"{prefix}-*"
    # Wildcard index deletes are refused (destructive_requires_name): name them.
    names = list(es.indices.get(index=pattern, allow_no_indices=True, expand_wildcards="all"))
    for start in range(0, len(names), _NAMES_PER_REQUEST):
        es.indices.delete(index=",".join(names[start : start + _NAMES_PER_REQUEST]))
    with contextlib.suppress(NotFoundError):  # none was installed
        es.indices.delete_index_template(name=pattern)
