"""Incident use cases: from detections to incidents, and the changes people make.

Every write is a read-modify-write of one incident with optimistic
concurrency (:func:`audit.services.optimistic.update_with_retry`), so that
concurrent writers (detector replicas, the CLI, the API) never lose each
other's change. Notifications follow the history entries a write added.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from audit.domain.checklists import (
    AttributesConfig,
    ChecklistItemState,
    ChecklistTemplate,
    ItemDecision,
    evaluate_checklist,
    refuse_late_without_reasons,
)
from audit.domain.detection.record import Detection
from audit.domain.incidents import (
    ACTIVE_STATUSES,
    DecisionKind,
    HistoryEntry,
    Incident,
    IncidentStatus,
    allowed_next,
    apply_detection,
    assign,
    legal_hold_request,
    process_detection,
    record_decision,
    refresh_detection,
    transition,
)
from audit.domain.notifications import EventKind
from audit.errors import AuditError, InvalidTransition
from audit.services.optimistic import update_with_retry
from audit.services.ports.detection import BulkIncidentCreator
from audit.services.ports.incidents import DetectionStore, IncidentStore, Notifier

log = logging.getLogger(__name__)

HOLD_ITEM = "t0_and_legal_hold"
_NOTIFIED_ACTIONS = {
    "opened": EventKind.INCIDENT_OPENED,
    "severity_raised": EventKind.SEVERITY_RAISED,
    "status_changed": EventKind.STATUS_CHANGED,
}


# Aliases: inside the class, ``list`` names the method.
ItemStates = list[ChecklistItemState]
Incidents = list[Incident]
Detections = list[Detection]


class BadInput(AuditError):
    """A command's argument is not valid (a blank actor, a blank note).

    The message names the argument; correct it and run the command again.
    """


@dataclass(frozen=True)
class DetectionOutcome:
    """What handling one detection did."""

    detection_id: str
    action: Literal["opened", "joined", "unchanged", "detection_only"]
    incident_id: str | None
    reason: str


class IncidentService:
    def __init__(
        self,
        store: IncidentStore,
        detections: DetectionStore,
        notifier: Notifier,
        attributes: AttributesConfig,
        templates: Callable[[str], ChecklistTemplate],
        *,
        max_attempts: int = 50,
    ) -> None:
        self._store = store
        self._detections = detections
        self._notifier = notifier
        self._attributes = attributes
        self._templates = templates
        self._max_attempts = max_attempts

    # --- detections -------------------------------------------------------

    def handle_detection(self, detection: Detection, now: datetime) -> DetectionOutcome:
        """Open an incident, join an open one, or leave a low detection alone.

        Idempotent: a detection already part of an incident (open or not) changes
        nothing, unless it grew since (updated in place): an active incident then
        follows its new events (:func:`refresh_detection`).
        """
        known = self._store.find(detection_id=detection.id)
        if known:
            holder = known[0]
            if refresh_detection(holder, detection) is holder:
                return DetectionOutcome(detection.id, "unchanged", holder.id, "already merged")
            before, after = self._update(holder.id, functools.partial(_refresh_all, [detection]))
            if after is before:
                return DetectionOutcome(detection.id, "unchanged", holder.id, "already merged")
            return DetectionOutcome(detection.id, "joined", holder.id, "detection updated")
        for _ in range(3):
            candidates = self._store.find(
                statuses=[s.value for s in ACTIVE_STATUSES],
                organization_ids=detection.organization_ids,
            )
            decision, incident = process_detection(detection, candidates, now)
            if decision.kind is DecisionKind.OPEN and incident is not None:
                if not self._store.create(incident):
                    # The same detection, handled concurrently elsewhere, opened it.
                    return DetectionOutcome(detection.id, "unchanged", incident.id, "exists")
                self._notify_new_entries(0, incident)
                return DetectionOutcome(detection.id, "opened", incident.id, decision.reason)
            if decision.kind is DecisionKind.JOIN and decision.incident_id is not None:
                try:
                    before, after = self._update(
                        decision.incident_id, lambda i: apply_detection(i, detection, now)
                    )
                except InvalidTransition:
                    continue  # closed meanwhile: correlate again against what is open now
                action: Literal["joined", "unchanged"] = (
                    "unchanged" if after is before else "joined"
                )
                return DetectionOutcome(detection.id, action, after.id, decision.reason)
            return DetectionOutcome(detection.id, "detection_only", None, decision.reason)
        raise InvalidTransition(
            f"detection {detection.id}: the incidents it matches keep closing; handle it again"
        )

    def handle_detections(
        self, detections: Sequence[Detection], now: datetime
    ) -> list[DetectionOutcome]:
        """A batch of detections (the detector's, after one bulk write).

        An alert storm must not cost a few requests per detection: the
        active incidents of the batch's organizations are read once, each
        detection is correlated in memory in order (it may join an incident
        an earlier one of the batch opened), and each incident touched is
        written once: a create per incident opened, one optimistic
        read-modify-write per existing incident joined. A detection already
        part of an active incident changes nothing (as in
        :meth:`handle_detection`) unless it was updated in place since: the
        incident then follows its growth, idempotently. When a write
        conflicts, the detections of that incident are handled one by one.
        """
        if not detections:
            return []
        organizations = sorted({org for d in detections for org in d.organization_ids})
        active = self._store.find(
            statuses=[s.value for s in ACTIVE_STATUSES], organization_ids=organizations
        )
        candidates = {incident.id: incident for incident in active}
        by_org: dict[str, set[str]] = {}
        merged: dict[str, str] = {}
        for incident in active:
            for org in incident.organization_ids:
                by_org.setdefault(org, set()).add(incident.id)
            merged.update(dict.fromkeys(incident.detection_ids, incident.id))
        existing = set(candidates)
        joined: dict[str, list[Detection]] = {}
        refreshed: dict[str, list[Detection]] = {}
        opened: dict[str, tuple[Incident, list[Detection]]] = {}
        outcomes: list[DetectionOutcome] = []
        for detection in detections:
            holder = merged.get(detection.id)
            if holder is not None:
                known = candidates[holder]
                grown = refresh_detection(known, detection)
                if grown is not known:
                    # a detection updated in place (the burst went on): the incident follows
                    candidates[holder] = grown
                    refreshed.setdefault(holder, []).append(detection)
                    outcomes.append(
                        DetectionOutcome(detection.id, "joined", holder, "detection updated")
                    )
                    continue
                outcomes.append(
                    DetectionOutcome(detection.id, "unchanged", holder, "already merged")
                )
                continue
            # the incidents a one-by-one find would give: sharing an organization
            near = sorted({i for org in detection.organization_ids for i in by_org.get(org, ())})
            decision, changed = process_detection(detection, [candidates[i] for i in near], now)
            if changed is not None:
                merged[detection.id] = changed.id
                for org in changed.organization_ids:
                    by_org.setdefault(org, set()).add(changed.id)
            if decision.kind is DecisionKind.OPEN and changed is not None:
                candidates[changed.id] = changed
                opened[changed.id] = (changed, [detection])
                outcomes.append(
                    DetectionOutcome(detection.id, "opened", changed.id, decision.reason)
                )
            elif decision.kind is DecisionKind.JOIN and decision.incident_id is not None:
                target = decision.incident_id
                if changed is not None:
                    candidates[target] = changed
                if target in opened:
                    opened[target] = (candidates[target], [*opened[target][1], detection])
                else:
                    joined.setdefault(target, []).append(detection)
                outcomes.append(DetectionOutcome(detection.id, "joined", target, decision.reason))
            else:
                outcomes.append(
                    DetectionOutcome(detection.id, "detection_only", None, decision.reason)
                )
        again = self._write_batch(opened, joined, existing, now)
        outcomes = [again.get(o.detection_id, o) for o in outcomes]
        for incident_id, members in refreshed.items():
            # closed meanwhile: refresh_detection leaves it as it was
            self._update(incident_id, functools.partial(_refresh_all, members))
        return outcomes

    def _write_batch(
        self,
        opened: dict[str, tuple[Incident, list[Detection]]],
        joined: dict[str, list[Detection]],
        existing: set[str],
        now: datetime,
    ) -> dict[str, DetectionOutcome]:
        """The writes of :meth:`handle_detections`: creates in one request
        when the store can, one read-modify-write per existing incident.
        Returns the outcomes of detections handled again one by one (their
        incident was opened or closed meanwhile), which replace the batch's."""
        again: dict[str, DetectionOutcome] = {}
        new = [incident for incident, _ in opened.values()]
        if isinstance(self._store, BulkIncidentCreator):
            created = self._store.create_many(new)
        else:
            created = [self._store.create(incident) for incident in new]
        for (incident, members), stored in zip(opened.values(), created, strict=True):
            if stored:
                self._notify_new_entries(0, incident)
            else:  # opened meanwhile by another writer: correlate these again
                for detection in members:
                    again[detection.id] = self.handle_detection(detection, now)
        for incident_id, members in joined.items():
            if incident_id not in existing:
                continue
            try:
                self._update(incident_id, functools.partial(_apply_all, members, now))
            except InvalidTransition:  # closed meanwhile: correlate again
                for detection in members:
                    again[detection.id] = self.handle_detection(detection, now)
        return again

    def sync_detections(self, since: datetime | None, now: datetime) -> dict[str, int]:
        """Feed stored detections (from ``since``) not yet in an incident, oldest first.

        T0 of an incident opened here is the detection's ``detected_at`` when it has
        one, so that rebuilding incidents from ``audit-detections`` keeps their clocks.
        """
        counts: Counter[str] = Counter()
        for detection in self._detections.list(since=since):
            outcome = self.handle_detection(detection, detection.detected_at or now)
            counts[outcome.action] += 1
        return dict(sorted(counts.items()))

    # --- changes by people ------------------------------------------------

    def transition(
        self, incident_id: str, status: str, *, by: str, note: str, now: datetime
    ) -> Incident:
        _need(by=by)
        return self._update(incident_id, lambda i: transition(i, status, by=by, at=now, why=note))[
            1
        ]

    def assign(
        self, incident_id: str, assignee: str, *, by: str, now: datetime, note: str = ""
    ) -> Incident:
        _need(by=by, assignee=assignee)
        return self._update(incident_id, lambda i: assign(i, assignee, by=by, at=now, why=note))[1]

    def comment(self, incident_id: str, text: str, *, by: str, now: datetime) -> Incident:
        _need(by=by, comment=text)
        entry = HistoryEntry(at=now, by=by, action="commented", why=text)
        return self._update(incident_id, lambda i: i.changed(entry))[1]

    def decide(
        self,
        incident_id: str,
        item_id: str,
        *,
        answer: str,
        rationale: str,
        by: str,
        now: datetime,
        effective_at: datetime | None = None,
        expires_at: datetime | None = None,
        late_reasons: str | None = None,
    ) -> Incident:
        """Record a checklist decision (an amendment when the item was decided before)."""
        _need(by=by, answer=answer, rationale=rationale)

        def change(incident: Incident) -> Incident:
            details = {}
            if item_id == HOLD_ITEM:
                details["hold_id"] = legal_hold_request(incident, by=by, at=now).hold_id
            decision = ItemDecision(
                item_id=item_id,
                answer=answer,
                rationale=rationale,
                decided_by=by,
                decided_at=now,
                effective_at=effective_at,
                expires_at=expires_at,
                late_reasons=late_reasons,
                details=details,
            )
            # GDPR Art. 33(1): a late notification carries its reasons when recorded.
            template = self._template_of(incident)
            refuse_late_without_reasons(template, self.checklist(incident, now), decision)
            return record_decision(incident, decision, template)

        return self._update(incident_id, change)[1]

    # --- reading ------------------------------------------------------------

    def get(self, incident_id: str) -> Incident:
        return self._store.get(incident_id).value

    def list(
        self, *, status: str | None = None, org: str | None = None, rule: str | None = None
    ) -> Incidents:
        if status is not None:
            try:
                IncidentStatus(status)
            except ValueError:
                known = ", ".join(s.value for s in IncidentStatus)
                raise BadInput(f"unknown status {status!r}; statuses: {known}") from None
        return self._store.find(
            statuses=[status] if status else None,
            organization_ids=[org] if org is not None else None,  # "": nothing
            rule_id=rule,
        )

    def touching(
        self,
        fields: Sequence[str],
        value: str,
        *,
        since: datetime,
        until: datetime,
        organization_ids: Sequence[str] | None = None,
    ) -> tuple[Detections, Incidents]:
        """Detections and incidents of ``[since, until)`` whose entities name ``value``
        under one of ``fields`` (``user.id``, ``source.ip``, ...); an incident also
        touches it through one of those detections. ``organization_ids``: any of them."""

        def names(entities: dict[str, Any]) -> bool:
            return any(value in entities.get(f, ()) for f in fields)

        found: dict[str, Detection] = {}
        for org in organization_ids if organization_ids is not None else [None]:
            for detection in self._detections.list(organization_id=org, since=since):
                if detection.first_seen < until and names(detection.entities):
                    found[detection.id] = detection
        incidents = [
            incident
            for incident in self._store.find(
                organization_ids=list(organization_ids) if organization_ids is not None else None
            )
            if incident.first_event_at < until
            and incident.last_event_at >= since
            and (names(incident.entities) or not found.keys().isdisjoint(incident.detection_ids))
        ]
        detections = sorted(found.values(), key=lambda d: (d.first_seen, d.id))
        return detections, incidents

    def detection(self, detection_id: str) -> Detection:
        return self._detections.get(detection_id)

    def detections(
        self, *, rule_id: str | None = None, organization_id: str | None = None
    ) -> Detections:
        """Stored detections, oldest first (by first event time)."""
        return self._detections.list(rule_id=rule_id, organization_id=organization_id)

    def checklist(self, incident: Incident, now: datetime) -> ItemStates:
        return evaluate_checklist(
            self._template_of(incident),
            incident.facts(),
            self._attributes.organizations,
            self._attributes.platform,
            incident.decisions,
            now=now,
        )

    def show(self, incident_id: str, now: datetime) -> dict[str, Any]:
        """Facts, entities, the evaluated checklist, the allowed next states and the history."""
        incident = self.get(incident_id)
        view = incident.model_dump(mode="json")
        view["facts"] = incident.facts().model_dump(mode="json")
        view["allowed_next"] = [s.value for s in allowed_next(incident.status)]
        view["checklist"] = [s.model_dump(mode="json") for s in self.checklist(incident, now)]
        hold = legal_hold_request(incident, by="audit", at=incident.opened_at)
        view["legal_hold_request"] = hold.model_dump(mode="json")
        return view

    # --- internals ----------------------------------------------------------

    def _template_of(self, incident: Incident) -> ChecklistTemplate:
        return self._templates(f"{incident.checklist_template}.v{incident.checklist_version}")

    def _update(
        self, incident_id: str, change: Callable[[Incident], Incident]
    ) -> tuple[Incident, Incident]:
        before, after = update_with_retry(
            lambda: self._store.get(incident_id),
            self._store.replace,
            change,
            max_attempts=self._max_attempts,
        )
        if after is not before:
            self._notify_new_entries(len(before.history), after)
        return before, after

    def _notify_new_entries(self, start: int, incident: Incident) -> None:
        for index in range(start, len(incident.history)):
            entry = incident.history[index]
            kind = _NOTIFIED_ACTIONS.get(entry.action)
            if kind is None:
                continue
            try:
                self._notifier.notify(kind, incident, sent_for=entry.at, discriminator=f"h{index}")
            except Exception:  # a notification never undoes the change it reports
                log.exception("notification %s of incident %s not sent", kind, incident.id)


def _refresh_all(detections: Sequence[Detection], incident: Incident) -> Incident:
    """An incident after detections it holds were updated in place (idempotent)."""
    for detection in detections:
        incident = refresh_detection(incident, detection)
    return incident


def _apply_all(detections: Sequence[Detection], now: datetime, incident: Incident) -> Incident:
    for detection in detections:
        incident = apply_detection(incident, detection, now)
    return incident


def _need(**values: str) -> None:
    for name, value in values.items():
        if not value or not value.strip():
            raise BadInput(f"{name} must not be blank")
