"""Sealing version-2 links: the commitments of a batch of documents.

The chain keeper calls ``commit_batch`` with the documents it is about to
chain; the subject keys of the batch are fetched (or created) in one round
trip to the key store, then every document's personal values are committed
with its subjects' keys (``audit.domain.privacy.commitments``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from audit.domain.privacy.commitments import commit_values
from audit.domain.privacy.fields import (
    PERSONAL_FIELDS,
    Subject,
    personal_values,
    subject_identifier,
)
from audit.services.subject_keys import SubjectKeyring

# An event whose personal fields name no subject (a user agent alone) is
# committed under one key of its organization.
NOBODY = "nobody:"


def _subjects(document: Mapping[str, Any], values: Mapping[str, Any]) -> dict[Subject, str]:
    needed = {PERSONAL_FIELDS[path] for path in values}
    return {s: subject_identifier(document, s, values) or NOBODY for s in sorted(needed)}


KEY_IDS = 100_000  # (organization, subject) -> key id, remembered (an HMAC each)


class Committer:
    def __init__(self, keyring: SubjectKeyring) -> None:
        self._keyring = keyring
        self._ids: dict[tuple[str, str], str] = {}

    def _key_id(self, organization_id: str, identifier: str) -> str:
        found = self._ids.get((organization_id, identifier))
        if found is None:
            if len(self._ids) >= KEY_IDS:
                self._ids.clear()
            found = self._keyring.key_id(organization_id, identifier)
            self._ids[(organization_id, identifier)] = found
        return found

    def commit_batch(
        self, documents: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[tuple[dict[str, str], dict[str, str]]]:
        """(commitments, key ids by subject) for each (organization, document)."""
        named: list[dict[Subject, str]] = []
        read: list[dict[str, Any]] = []
        for organization_id, document in documents:
            values = personal_values(document)
            read.append(values)
            subjects = _subjects(document, values)
            named.append({s: self._key_id(organization_id, ident) for s, ident in subjects.items()})
        keys = self._keyring.get_or_create(k for ids in named for k in ids.values())
        out: list[tuple[dict[str, str], dict[str, str]]] = []
        for (_, document), ids, values in zip(documents, named, read, strict=True):
            event = document.get("event")
            event_id = str(event.get("id", "")) if isinstance(event, Mapping) else ""
            commitments = commit_values(values, event_id, {s: keys[k] for s, k in ids.items()})
            out.append((commitments, {str(s): k for s, k in ids.items()}))
        return out
