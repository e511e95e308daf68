"""Checking the personal values of a version-2 link against its commitments.

The hash of a version-2 link covers the commitments, not the values
(``audit.domain.integrity.canonical.event_hash_v2``), so after the hash
check each personal field is checked on its own:

* a value present with its subject key: it must match its commitment (or,
  for ``source.ip``, the commitment to its truncation): else
  ``value_modified``;
* a value present with no commitment: added after sealing, ``value_modified``;
* a value present whose key was destroyed: ``key_missing`` (an erasure must
  remove every value before it destroys the key);
* a value absent: fine when an erasure record covers the event (reported as
  erased under that request) or when the field's age has passed (ageing
  dropped it); otherwise ``value_removed``: tampering.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from audit.domain.integrity.chain import ChainLink
from audit.domain.integrity.findings import Finding, FindingKind
from audit.domain.privacy.commitments import TRUNCATED_SUFFIX, matches
from audit.domain.privacy.fields import PERSONAL_FIELDS, personal_values


def check_values(
    document: Mapping[str, Any],
    link: ChainLink,
    commitments: Mapping[str, str],
    key_ids: Mapping[str, str],
    keys: Mapping[str, bytes | None],
    *,
    erased_under: str | None = None,
    erased_fields: Collection[str] = (),
    aged: Collection[str] = (),
) -> list[Finding]:
    """Findings about the personal values of one version-2 document.

    ``keys``: key id -> the subject key, ``None`` when it was destroyed (an id
    absent from ``keys`` is treated as destroyed). ``erased_under``: the
    request whose erasure record names this event and ``erased_fields`` the
    fields it erased (those may be absent). ``aged``: the fields whose
    age has passed for this event (they may be absent or truncated)."""
    findings: list[Finding] = []
    event_id = link.event_id or ""
    present = personal_values(document)

    def found(kind: FindingKind, message: str) -> None:
        findings.append(Finding(kind=kind, event_id=link.event_id, seq=link.seq, message=message))

    for path, value in present.items():
        if path not in commitments:
            found(FindingKind.VALUE_MODIFIED, f"{path} has no commitment: added after sealing")
            continue
        key_id = key_ids.get(PERSONAL_FIELDS[path])
        key = keys.get(key_id) if key_id is not None else None
        if key is None:
            found(
                FindingKind.KEY_MISSING,
                f"{path} is present but its subject key is destroyed: it cannot be checked"
                + (f" (the event was erased under request {erased_under})" if erased_under else ""),
            )
        elif not matches(key, event_id, path, value, commitments):
            found(FindingKind.VALUE_MODIFIED, f"{path} does not match its commitment")
    for path in commitments:
        if path.endswith(TRUNCATED_SUFFIX) or path in present:
            continue
        if not (erased_under is not None and path in erased_fields) and path not in aged:
            found(
                FindingKind.VALUE_REMOVED,
                f"{path} was removed without an erasure record or ageing",
            )
    return findings
