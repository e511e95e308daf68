"""Erasing one data subject's personal values (GDPR Art. 17, CCPA 1798.105).

Steps, each resumable (a rerun after a crash ends in the same state):

1. find the subject's events (a point-in-time walk over the event alias);
   customer-content events are redirected to their organization (Elastra
   is its processor there), not touched;
2. decide per event: keep, with the exemption and a review date, when a
   legal hold selects it (Art. 17(3)(e)), when an open incident's
   detections name it (Art. 17(3)(b)/(e)), when the decision exempted it,
   or when its link is version 1 (its hash covers the values in clear:
   removing them would break the chain); otherwise erase;
3. write the erasure ledger (event -> request, fields) *before* touching
   an event, so that verification never sees a removed value without it;
4. rewrite each erased event without the subject's personal fields
   (bulk ``index`` with ``if_seq_no``: no scripts, no update-by-query), and
   the same in hold copies whose hold is no longer active;
5. scrub the subject's values from detections and incidents that do not
   belong to an open incident;
6. destroy each subject key no stored value is committed under any more;
7. sign and store the erasure record (request, events digest, kept events
   and why, redirected events, destroyed keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from audit.domain.incidents.model import ACTIVE_STATUSES
from audit.domain.integrity.keys import SigningKey
from audit.domain.privacy.erasure import (
    CUSTOMER_CONTENT,
    HOLD_BASIS,
    INCIDENT_BASIS,
    Kept,
    erase,
    mentions,
    roles_of,
    scrub,
)
from audit.domain.privacy.fields import Subject, get_value
from audit.domain.privacy.records import events_digest, sign_record
from audit.domain.privacy.requests import DataSubjectRequest, Exemption
from audit.domain.retention.holds import hold_query
from audit.services.ports.privacy import DocumentIndex, ErasureLedger, StoredHit
from audit.services.ports.retention import HoldStore
from audit.services.subject_keys import SubjectKeyring

EXEMPTION_BASIS = {
    Exemption.LEGAL_OBLIGATION: "GDPR Art. 17(3)(b): compliance with a legal obligation",
    Exemption.LEGAL_CLAIMS: (
        "GDPR Art. 17(3)(e): establishment, exercise or defence of legal claims"
    ),
}
REVIEW_AFTER = timedelta(days=90)  # kept events are looked at again
INCIDENT_OPEN = sorted(s.value for s in ACTIVE_STATUSES)


@dataclass(frozen=True)
class Indices:
    events: str  # the event alias (read) — writes go to each hit's own index
    detections: str
    incidents: str
    hold_copies: str  # pattern of hold copy indices


def subject_query(request: DataSubjectRequest) -> dict[str, Any]:
    """The subject's events (fixed DSL from the request, nothing client-supplied)."""
    subject = request.subject
    name, value = subject.term()
    match: dict[str, Any] = {"term": {name: value}}
    if name == "user.id":
        match = {
            "bool": {
                "should": [{"term": {"user.id": value}}, {"term": {"user.target.id": value}}],
                "minimum_should_match": 1,
            }
        }
    filters: list[dict[str, Any]] = [match]
    if subject.time_from is not None or subject.time_to is not None:
        bounds: dict[str, str] = {}
        if subject.time_from is not None:
            bounds["gte"] = subject.time_from.isoformat()
        if subject.time_to is not None:
            bounds["lt"] = subject.time_to.isoformat()
        filters.append({"range": {"@timestamp": bounds}})
    if request.organization_id is not None:
        filters.append({"term": {"organization.id": request.organization_id}})
    return {"bool": {"filter": filters}}


@dataclass
class ErasureOutcome:
    request_id: str
    erased: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    redirected: list[tuple[str, str]] = field(default_factory=list)  # (event, organization)
    hold_copies: int = 0
    detections: int = 0
    incidents: int = 0
    destroyed_keys: list[str] = field(default_factory=list)
    retained_keys: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "erased_events": len(self.erased),
            "kept": [
                {
                    "event_id": k.event_id,
                    "reason": k.reason,
                    "basis": k.basis,
                    "review_at": k.review_at.isoformat() if k.review_at else None,
                }
                for k in self.kept
            ],
            "redirected": [{"event_id": e, "organization_id": o} for e, o in self.redirected],
            "scrubbed": {
                "hold_copies": self.hold_copies,
                "detections": self.detections,
                "incidents": self.incidents,
            },
            "destroyed_keys": len(self.destroyed_keys),
            "retained_keys": len(self.retained_keys),
            "record": self.record,
        }


def _event_id(source: Mapping[str, Any]) -> str:
    value = get_value(source, "event.id")
    return value if isinstance(value, str) else ""


class SubjectErasure:
    def __init__(
        self,
        documents: DocumentIndex,
        ledger: ErasureLedger,
        holds: HoldStore,
        keyring: SubjectKeyring | None,
        signing_key: SigningKey,
        indices: Indices,
    ) -> None:
        self._docs = documents
        self._ledger = ledger
        self._holds = holds
        self._keyring = keyring
        self._key = signing_key
        self._indices = indices

    def erase(self, request: DataSubjectRequest, by: str, now: datetime) -> ErasureOutcome:
        outcome = ErasureOutcome(request.id)
        name, value = request.subject.term()
        candidates: list[tuple[StoredHit, list[Subject]]] = []
        for page in self._docs.walk(self._indices.events, subject_query(request)):
            for hit in page:
                event_id = _event_id(hit.source)
                if get_value(hit.source, "elastra.data_category") == CUSTOMER_CONTENT:
                    owner = get_value(hit.source, "elastra.resource.organization_id") or get_value(
                        hit.source, "organization.id"
                    )
                    outcome.redirected.append((event_id, str(owner)))
                    continue
                roles = roles_of(hit.source, name, value)
                if name == "source.ip":
                    roles = ["actor"]
                if roles:
                    candidates.append((hit, roles))
        kept = self._kept(request, [h for h, _ in candidates], now)
        erasing: list[tuple[StoredHit, list[Subject]]] = []
        for hit, roles in candidates:
            event_id = _event_id(hit.source)
            if event_id in kept:
                outcome.kept.append(kept[event_id])
            else:
                erasing.append((hit, roles))
        changes: list[tuple[StoredHit, Mapping[str, Any]]] = []
        entries: list[dict[str, Any]] = []
        values: set[str] = {value}
        identifiers: set[str] = {value}
        keys: set[str] = set()
        for hit, roles in erasing:
            erased = erase(hit.source, roles, request.id)
            values.update(erased.values)
            identifiers.update(erased.identifiers)
            integrity = hit.source.get("integrity") or {}
            for role in roles:
                key_id = (integrity.get("keys") or {}).get(role)
                if key_id:
                    keys.add(key_id)
            entries.append(
                {
                    "event_id": _event_id(hit.source),
                    "organization_id": get_value(hit.source, "organization.id"),
                    "fields": erased.fields,
                    "erased_at": now.isoformat(),
                }
            )
            changes.append((hit, erased.document))
            outcome.erased.append(_event_id(hit.source))
        # The ledger first: a crash after it leaves values that still match.
        self._ledger.record_events(request.id, entries)
        self._docs.rewrite([(h, d) for h, d in changes if d != h.source])
        outcome.hold_copies = self._erase_hold_copies(request, erasing, now)
        open_events = {k.event_id for k in outcome.kept}
        outcome.detections, outcome.incidents = self._scrub(
            request, values, identifiers, open_events, now
        )
        self._docs.refresh(self._indices.events)
        self._destroy_keys(sorted(keys), outcome)
        outcome.record = self._sign(request, outcome, by, now)
        return outcome

    def _kept(
        self, request: DataSubjectRequest, hits: Sequence[StoredHit], now: datetime
    ) -> dict[str, Kept]:
        ids = [_event_id(h.source) for h in hits]
        review = now + REVIEW_AFTER
        kept: dict[str, Kept] = {}
        decision = request.decision
        exemptions = decision.exemptions if decision is not None else {}
        for hit in hits:
            event_id = _event_id(hit.source)
            exemption = exemptions.get(event_id) or exemptions.get("*")
            if exemption is not None:
                kept[event_id] = Kept(event_id, exemption.value, EXEMPTION_BASIS[exemption], review)
            elif (hit.source.get("integrity") or {}).get("v", 1) == 1:
                kept[event_id] = Kept(
                    event_id,
                    "v1_link",
                    "sealed before commitments: its hash covers the values in clear, "
                    "so removing them would break the chain (kept until retention deletes it)",
                    None,
                )
        for hold in self._holds.all():
            if not hold.is_active(now):
                continue
            for event_id in self._docs.ids_matching(self._indices.events, hold_query(hold), ids):
                kept.setdefault(
                    event_id,
                    Kept(event_id, f"legal_hold:{hold.id}", HOLD_BASIS, hold.expires_at or review),
                )
        for incident_id, event_ids in self._open_incident_events(request).items():
            for event_id in event_ids & set(ids):
                kept.setdefault(
                    event_id, Kept(event_id, f"open_incident:{incident_id}", INCIDENT_BASIS, review)
                )
        return kept

    def _org_filter(self, request: DataSubjectRequest) -> dict[str, Any]:
        if request.organization_id is None:
            return {"match_all": {}}
        return {"term": {"organization_ids": request.organization_id}}

    def _open_incident_events(self, request: DataSubjectRequest) -> dict[str, set[str]]:
        detections: dict[str, set[str]] = {}
        for page in self._docs.walk(self._indices.detections, self._org_filter(request)):
            for hit in page:
                detections[hit.doc_id] = set(hit.source.get("event_ids") or [])
        out: dict[str, set[str]] = {}
        query = {
            "bool": {
                "filter": [self._org_filter(request), {"terms": {"status": list(INCIDENT_OPEN)}}]
            }
        }
        for page in self._docs.walk(self._indices.incidents, query):
            for hit in page:
                events: set[str] = set()
                for detection_id in hit.source.get("detection_ids") or []:
                    events |= detections.get(detection_id, set())
                out[hit.doc_id] = events
        return out

    def _erase_hold_copies(
        self,
        request: DataSubjectRequest,
        erasing: Sequence[tuple[StoredHit, list[Subject]]],
        now: datetime,
    ) -> int:
        """Copies in hold indices of events being erased: their hold is not
        active (else the event would have been kept), so the copy goes too."""
        roles = {_event_id(h.source): r for h, r in erasing}
        if not roles:
            return 0
        changes: list[tuple[StoredHit, Mapping[str, Any]]] = []
        ids = sorted(roles)
        for start in range(0, len(ids), 1000):
            query = {"ids": {"values": ids[start : start + 1000]}}
            for page in self._docs.walk(self._indices.hold_copies, query):
                for hit in page:
                    erased = erase(hit.source, roles[hit.doc_id], request.id)
                    if erased.document != hit.source:
                        changes.append((hit, erased.document))
        return self._docs.rewrite(changes) if changes else 0

    def _scrub(
        self,
        request: DataSubjectRequest,
        values: set[str],
        identifiers: set[str],
        kept_events: set[str],
        now: datetime,
    ) -> tuple[int, int]:
        open_incidents = self._open_incident_events(request)
        protected = set().union(*open_incidents.values()) if open_incidents else set()
        counts = []
        for index in (self._indices.detections, self._indices.incidents):
            changes: list[tuple[StoredHit, Mapping[str, Any]]] = []
            for page in self._docs.walk(index, self._org_filter(request)):
                for hit in page:
                    # What an open incident rests on stays as it is (kept events).
                    if hit.doc_id in open_incidents or set(hit.source.get("event_ids") or []) & (
                        protected
                    ):
                        continue
                    if not mentions(hit.source, identifiers):
                        continue
                    scrubbed, changed = scrub(hit.source, values, identifiers)
                    if changed:
                        changes.append((hit, scrubbed))
            counts.append(self._docs.rewrite(changes) if changes else 0)
        return counts[0], counts[1]

    def _destroy_keys(self, keys: list[str], outcome: ErasureOutcome) -> None:
        if self._keyring is None:
            outcome.retained_keys = keys
            return
        for key_id in keys:
            still = self._docs.count(
                self._indices.events,
                {
                    "bool": {
                        "should": [
                            {
                                "bool": {
                                    "filter": [{"term": {"integrity.keys.actor": key_id}}],
                                    "must_not": [
                                        {"exists": {"field": "integrity.privacy.erased.actor"}}
                                    ],
                                }
                            },
                            {
                                "bool": {
                                    "filter": [{"term": {"integrity.keys.target": key_id}}],
                                    "must_not": [
                                        {"exists": {"field": "integrity.privacy.erased.target"}}
                                    ],
                                }
                            },
                        ],
                        "minimum_should_match": 1,
                    }
                },
            )
            (outcome.retained_keys if still else outcome.destroyed_keys).append(key_id)
        self._keyring.destroy(outcome.destroyed_keys)

    def _sign(
        self, request: DataSubjectRequest, outcome: ErasureOutcome, by: str, now: datetime
    ) -> dict[str, Any]:
        events = list(self._ledger.events_of(request.id))
        record = sign_record(
            {
                "request_id": request.id,
                "organization_id": request.organization_id,
                "events": len(events),
                "events_sha256": events_digest(events),
                "kept": [
                    {
                        "event_id": k.event_id,
                        "reason": k.reason,
                        "basis": k.basis,
                        "review_at": k.review_at.isoformat() if k.review_at else None,
                    }
                    for k in outcome.kept
                ],
                "redirected": [
                    {"event_id": e, "organization_id": o} for e, o in outcome.redirected
                ],
                "destroyed_keys": outcome.destroyed_keys,
                "retained_keys": outcome.retained_keys,
                "erased_by": by,
                "erased_at": now.isoformat(),
            },
            self._key,
        )
        self._ledger.put_record(request.id, record)
        return record
