"""Sealing version-2 links: the commitments of a batch of documents.

The chain keeper calls ``commit_batch`` with the documents it is about to
chain; the subject keys of the batch are fetched (or created) in one round
trip to the key store, then every document's personal values are committed
with its subjects' keys (``audit.domain.privacy.commitments``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from audit.domain.privacy.commitments import commitments_for
from audit.domain.privacy.fields import PERSONAL_FIELDS, Subject, get_value, subject_identifier
from audit.services.subject_keys import SubjectKeyring

# An event whose personal fields name no subject (a user agent alone) is
# committed under one key of its organization.
NOBODY = "nobody:"


def _subjects(organization_id: str, document: Mapping[str, Any]) -> dict[Subject, str]:
    needed = {s for path, s in PERSONAL_FIELDS.items() if get_value(document, path) is not None}
    return {s: subject_identifier(document, s) or NOBODY for s in sorted(needed)}


class Committer:
    def __init__(self, keyring: SubjectKeyring) -> None:
        self._keyring = keyring

    def commit_batch(
        self, documents: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[tuple[dict[str, str], dict[str, str]]]:
        """(commitments, key ids by subject) for each (organization, document)."""
        named: list[dict[Subject, str]] = []
        for organization_id, document in documents:
            subjects = _subjects(organization_id, document)
            named.append(
                {s: self._keyring.key_id(organization_id, ident) for s, ident in subjects.items()}
            )
        keys = self._keyring.get_or_create(k for ids in named for k in ids.values())
        out: list[tuple[dict[str, str], dict[str, str]]] = []
        for (_, document), ids in zip(documents, named, strict=True):
            event = document.get("event")
            event_id = str(event.get("id", "")) if isinstance(event, Mapping) else ""
            commitments = commitments_for(document, event_id, {s: keys[k] for s, k in ids.items()})
            out.append((commitments, {str(s): k for s, k in ids.items()}))
        return out
