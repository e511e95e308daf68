"""From detections to incidents: open a new one, join an open one, or stay a detection.

Rules:

- A detection joins an active incident of the same organization (any shared
  organization id) that shares an entity of a joining kind (a user id counts
  whether it was the actor or the target) and whose events
  are within 24 h of the detection's. This is how an attack chain (spraying,
  then a success, then a privilege grant, then an export) becomes one
  incident. When several incidents match, the one sharing the most entity
  kinds, then the most recently active, then the smallest id wins.
- Otherwise a detection of severity medium or more opens an incident; a low
  one stays a detection.
- A detection spanning several organizations (one IP spraying several
  tenants) opens one incident listing all of them.
- A detection already part of an incident joins it again (replays are
  harmless: :func:`apply_detection` then changes nothing). A detection
  updated in place (the same id: its burst went on within the suppression
  period) moves the incident by what it grew (:func:`refresh_detection`):
  more events, a later last event, new entities.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from audit.domain.detection.record import Detection, Severity
from audit.domain.fields import ENTITY_FIELDS
from audit.domain.incidents.model import HistoryEntry, Incident, role_for_category
from audit.errors import InvalidTransition

JOIN_ENTITY_KINDS = ENTITY_FIELDS  # every entity a detection records joins
# ``user.id`` and ``user.target.id`` name the same kind of thing: a user acted
# upon (granted a role) who then acts (exports) links the two detections.
SAME_IDENTITY = {"user.target.id": "user.id"}
JOIN_WINDOW = timedelta(hours=24)
OPENING_SEVERITY = Severity.MEDIUM
SYSTEM_ACTOR = "audit"


class DecisionKind(StrEnum):
    OPEN = "open"
    JOIN = "join"
    DETECTION_ONLY = "detection_only"


class CorrelationDecision(BaseModel):
    """What to do with a detection, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DecisionKind
    detection_id: str
    incident_id: str | None = None
    reason: str
    shared_entities: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    decided_at: AwareDatetime


def incident_id_for(detection_id: str) -> str:
    """The id of the incident a detection opens: the same detection always gives the same id."""
    return "inc-" + hashlib.sha256(detection_id.encode("utf-8")).hexdigest()[:24]


def _identities(entities: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for kind in JOIN_ENTITY_KINDS:
        grouped.setdefault(SAME_IDENTITY.get(kind, kind), set()).update(entities.get(kind, ()))
    return grouped


def _shared_entities(detection: Detection, incident: Incident) -> dict[str, tuple[str, ...]]:
    ours, theirs = _identities(detection.entities), _identities(incident.entities)
    shared: dict[str, tuple[str, ...]] = {}
    for kind, values in ours.items():
        common = values & theirs.get(kind, set())
        if common:
            shared[kind] = tuple(sorted(common))
    return shared


def _gap(detection: Detection, incident: Incident) -> timedelta:
    """Time between the detection's events and the incident's (zero if they overlap)."""
    return max(
        detection.first_seen - incident.last_event_at,
        incident.first_event_at - detection.last_seen,
        timedelta(0),
    )


def correlate(
    detection: Detection, open_incidents: Iterable[Incident], now: datetime
) -> CorrelationDecision:
    """Decide whether ``detection`` opens an incident, joins one, or stays a detection.

    ``open_incidents`` are the candidates (inactive ones are ignored);
    ``now`` is recorded as the time of the decision.
    """
    candidates = [i for i in open_incidents if i.is_active]
    for incident in candidates:
        if detection.id in incident.detection_ids:
            return CorrelationDecision(
                kind=DecisionKind.JOIN,
                detection_id=detection.id,
                incident_id=incident.id,
                reason="detection is already part of this incident",
                decided_at=now,
            )
    orgs = set(detection.organization_ids)
    matches: list[tuple[int, datetime, str, Incident, dict[str, tuple[str, ...]]]] = []
    for incident in candidates:
        if not orgs & set(incident.organization_ids) or _gap(detection, incident) > JOIN_WINDOW:
            continue
        shared = _shared_entities(detection, incident)
        if shared:
            matches.append((len(shared), incident.last_event_at, incident.id, incident, shared))
    if matches:
        best = sorted(matches, key=lambda m: (-m[0], -m[1].timestamp(), m[2]))[0]
        incident, shared = best[3], best[4]
        described = ", ".join(f"{k}={','.join(v)}" for k, v in shared.items())
        return CorrelationDecision(
            kind=DecisionKind.JOIN,
            detection_id=detection.id,
            incident_id=incident.id,
            reason=f"same organization, shares {described}, within 24 h",
            shared_entities=shared,
            decided_at=now,
        )
    if detection.severity.rank >= OPENING_SEVERITY.rank:
        return CorrelationDecision(
            kind=DecisionKind.OPEN,
            detection_id=detection.id,
            incident_id=incident_id_for(detection.id),
            reason=f"severity {detection.severity.value} >= medium and no matching open incident",
            decided_at=now,
        )
    return CorrelationDecision(
        kind=DecisionKind.DETECTION_ONLY,
        detection_id=detection.id,
        reason="severity low and no matching open incident",
        decided_at=now,
    )


def _union(*groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({value for group in groups for value in group}))


def _affected(detection: Detection) -> Sequence[str]:
    """Tenants whose data is concerned: as the detection says, else its own organizations."""
    return detection.affected_organization_ids or detection.organization_ids


def open_incident(detection: Detection, now: datetime, *, by: str = SYSTEM_ACTOR) -> Incident:
    """A new incident from ``detection``; ``now`` is T0 (awareness)."""
    categories = _union(detection.data_categories)
    entry = HistoryEntry(
        at=now,
        by=by,
        action="opened",
        why=f"detection {detection.id} ({detection.rule_id}, {detection.severity.value})",
        changes={"detection_id": detection.id, "severity": detection.severity.value},
    )
    return Incident(
        id=incident_id_for(detection.id),
        title=detection.rule_name or detection.rule_id,
        rule_ids=(detection.rule_id,),
        organization_ids=_union(detection.organization_ids),
        affected_organization_ids=_union(_affected(detection)),
        entities={k: _union(v) for k, v in sorted(detection.entities.items()) if v},
        data_categories=categories,
        roles={category: role_for_category(category) for category in categories},
        opened_at=now,
        first_event_at=detection.first_seen,
        last_event_at=detection.last_seen,
        event_count=detection.event_count,
        detection_ids=(detection.id,),
        detection_event_counts={detection.id: detection.event_count},
        severity=detection.severity,
        history=(entry,),
    )


def _merged_facts(incident: Incident, detection: Detection) -> dict[str, object]:
    """The incident's facts with ``detection``'s added (every one a union, a
    minimum or a maximum, so merging the same detection again adds nothing)."""
    kinds = set(incident.entities) | set(detection.entities)
    entities = {
        k: _union(incident.entities.get(k, ()), detection.entities.get(k, ()))
        for k in sorted(kinds)
    }
    categories = _union(incident.data_categories, detection.data_categories)
    return {
        "rule_ids": _union(incident.rule_ids, [detection.rule_id]),
        "organization_ids": _union(incident.organization_ids, detection.organization_ids),
        "affected_organization_ids": _union(
            incident.affected_organization_ids, _affected(detection)
        ),
        "entities": {k: v for k, v in entities.items() if v},
        "data_categories": categories,
        "roles": {category: role_for_category(category) for category in categories},
        "first_event_at": min(incident.first_event_at, detection.first_seen),
        "last_event_at": max(incident.last_event_at, detection.last_seen),
    }


def apply_detection(
    incident: Incident, detection: Detection, now: datetime, *, by: str = SYSTEM_ACTOR
) -> Incident:
    """Merge ``detection``'s facts into ``incident``; severity becomes the maximum.

    Adds a ``detection_added`` history entry, and a ``severity_raised`` one
    when the severity goes up. A detection already merged is a refresh
    (:func:`refresh_detection`): the same version again changes nothing.
    """
    if detection.id in incident.detection_ids:
        return refresh_detection(incident, detection)
    if not incident.is_active:
        raise InvalidTransition(
            f"incident {incident.id} is {incident.status.value}; detections join active incidents"
        )
    updates = _merged_facts(incident, detection)
    updates.update(
        event_count=incident.event_count + detection.event_count,
        detection_ids=(*incident.detection_ids, detection.id),
        detection_event_counts={
            **incident.detection_event_counts,
            detection.id: detection.event_count,
        },
    )
    added = HistoryEntry(
        at=now,
        by=by,
        action="detection_added",
        why=f"detection {detection.id} ({detection.rule_id}, {detection.severity.value})",
        changes={"detection_id": detection.id},
    )
    merged = incident.changed(added, **updates)
    if detection.severity.rank > incident.severity.rank:
        raised = HistoryEntry(
            at=now,
            by=by,
            action="severity_raised",
            why=f"detection {detection.id} is {detection.severity.value}",
            changes={"from": incident.severity.value, "to": detection.severity.value},
        )
        merged = merged.changed(raised, severity=detection.severity)
    return merged


def refresh_detection(incident: Incident, detection: Detection) -> Incident:
    """``incident`` after a detection it holds was updated in place.

    The detector updates a detection in place while its burst goes on
    (same id, more events, a later ``last_seen``, maybe new entities).
    The incident keeps each detection's count, so its ``event_count`` moves
    by the detection's growth only: applying the same version twice, or an
    older version after a newer one, changes nothing (counts and times only
    go up, entities are unions). An incident stored before it kept the
    counts does not know what this detection added when it joined; its
    count is then only ever raised to the sum of the counts it knows.

    Returns ``incident`` itself when nothing changes, and for an inactive
    incident (closed ones keep what they had). No history entry: a long
    burst would add one per detector batch; the detection itself (stored
    by id) carries its events.
    """
    if detection.id not in incident.detection_ids or not incident.is_active:
        return incident
    counts = dict(incident.detection_event_counts)
    known = counts.get(detection.id)
    if known is None:
        counts[detection.id] = detection.event_count
        event_count = max(incident.event_count, sum(counts.values()))
    else:
        counts[detection.id] = max(known, detection.event_count)
        event_count = incident.event_count + counts[detection.id] - known
    updates = _merged_facts(incident, detection)
    updates.update(event_count=event_count, detection_event_counts=counts)
    if all(getattr(incident, field) == value for field, value in updates.items()):
        return incident
    return incident.model_copy(update=updates)


def process_detection(
    detection: Detection, open_incidents: Sequence[Incident], now: datetime
) -> tuple[CorrelationDecision, Incident | None]:
    """Correlate and apply: the decision and the incident to write (None: nothing to write)."""
    decision = correlate(detection, open_incidents, now)
    if decision.kind is DecisionKind.OPEN:
        return decision, open_incident(detection, now)
    if decision.kind is DecisionKind.JOIN:
        target = next(i for i in open_incidents if i.id == decision.incident_id)
        updated = apply_detection(target, detection, now)
        return decision, None if updated is target else updated
    return decision, None
