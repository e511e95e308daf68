"""Restricting processing of a subject's events (GDPR Art. 18, objection
under Art. 21): the events stay stored, flagged with the request id in
``integrity.privacy.restricted`` (outside the hash: the chain is unchanged);
searches of every role but legal and privacy leave them out, and detection
skips subjects under an active restriction. Lifting removes the flag."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.domain.privacy.requests import DataSubjectRequest
from audit.services.ports.privacy import DocumentIndex, StoredHit
from audit.services.subject_erasure import subject_query

RESTRICTED_FIELD = "integrity.privacy.restricted"


def _flags(source: Mapping[str, Any]) -> list[str]:
    integrity = source.get("integrity")
    privacy = integrity.get("privacy") if isinstance(integrity, Mapping) else None
    flags = privacy.get("restricted") if isinstance(privacy, Mapping) else None
    return list(flags) if isinstance(flags, list) else []


def _with_flags(source: Mapping[str, Any], flags: list[str]) -> dict[str, Any]:
    out = dict(source)
    integrity = dict(out.get("integrity") or {})
    privacy = dict(integrity.get("privacy") or {})
    if flags:
        privacy["restricted"] = flags
    else:
        privacy.pop("restricted", None)
    if privacy:
        integrity["privacy"] = privacy
    else:
        integrity.pop("privacy", None)
    out["integrity"] = integrity
    return out


class Restriction:
    def __init__(self, documents: DocumentIndex, events_index: str) -> None:
        self._docs = documents
        self._events = events_index

    def apply(self, request: DataSubjectRequest) -> int:
        """Flag the subject's events; how many were flagged now (a rerun flags none)."""
        return self._change(request, add=True)

    def lift(self, request: DataSubjectRequest) -> int:
        return self._change(request, add=False)

    def _change(self, request: DataSubjectRequest, add: bool) -> int:
        changes: list[tuple[StoredHit, Mapping[str, Any]]] = []
        for page in self._docs.walk(self._events, subject_query(request)):
            for hit in page:
                flags = _flags(hit.source)
                if add and request.id not in flags:
                    changes.append((hit, _with_flags(hit.source, [*flags, request.id])))
                elif not add and request.id in flags:
                    kept = [f for f in flags if f != request.id]
                    changes.append((hit, _with_flags(hit.source, kept)))
        written = self._docs.rewrite(changes) if changes else 0
        self._docs.refresh(self._events)
        return written
