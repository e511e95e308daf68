"""What a principal may see of a record: tenant scope checks and redacted views.

A tenant-scoped principal sees a record that touches one of its
organizations; when the record also touches other tenants, their ids and
every detail that may belong to them (entities, event ids, notes, decisions)
are removed and ``redacted`` is set.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from audit.api.principal import Principal
from audit.api.problems import bad_request, forbidden
from audit.api.schemas.incidents import DetectionOut, IncidentDetail, IncidentOut
from audit.domain.detection.record import Detection
from audit.domain.incidents import Incident


def organizations_of(record: Detection | Incident) -> list[str]:
    return [*record.organization_ids, *record.affected_organization_ids]


def require_visible(principal: Principal, record: Detection | Incident) -> None:
    if not principal.sees_any(record.organization_ids) and not principal.sees_any(
        record.affected_organization_ids
    ):
        raise forbidden()


def require_whole(principal: Principal, record: Incident) -> None:
    """Changes need the whole incident in scope (not only one of its tenants)."""
    if not principal.sees_all(organizations_of(record)):
        raise forbidden()


def _mine(principal: Principal, ids: Any) -> list[str]:
    return [i for i in ids if principal.sees(i)]


# What a tenant sees of a record that also touches other tenants: every field
# named here is replaced by its blank value; the organization lists keep the
# tenant's own ids only. One list per record type, decided field by field: the
# title and rule ids name the attack, the counts cover every tenant, entities,
# event ids and evidence belong to the others.
REDACTED_INCIDENT: dict[str, Any] = {
    "title": "",
    "rule_ids": (),
    "severity": None,
    "event_count": None,
    "entities": {},
    "data_categories": (),
    "roles": {},
    "detection_ids": (),
    "detection_event_counts": {},
    "assignee": None,
    "closure_reason": None,
    "evidence": (),
    "decisions": (),
}
REDACTED_DETECTION: dict[str, Any] = {
    "rule_id": "",
    "rule_name": "",
    "severity": None,
    "group_key": {},
    "event_count": None,
    "event_ids": [],
    "data_categories": [],
    "entities": {},
    "mitre_technique": None,
}
# Shown to a tenant instead of the name of whoever acted on its incident, unless
# it is the tenant's principal itself: platform staff names are not for tenants.
STAFF = "elastra-staff"


def _actor(principal: Principal, name: str | None) -> str | None:
    if name is None or principal.platform or name == principal.id:
        return name
    return STAFF


# History changes that name a person: an assignment's "from" and "to".
_PERSON_CHANGES = {("assigned", "from"), ("assigned", "to")}


def _changed(principal: Principal, action: str, key: str, value: str) -> str:
    if (action, key) in _PERSON_CHANGES and value:
        return _actor(principal, value) or ""
    return value


def detection_view(principal: Principal, detection: Detection) -> DetectionOut:
    data = detection.model_dump()
    if principal.sees_all(organizations_of(detection)):
        return DetectionOut.model_validate(data)
    data.update(REDACTED_DETECTION)
    data.update(
        organization_ids=_mine(principal, detection.organization_ids),
        affected_organization_ids=_mine(principal, detection.affected_organization_ids),
        redacted=True,
    )
    return DetectionOut.model_validate(data)


def _incident_data(principal: Principal, incident: Incident) -> dict[str, Any]:
    data = incident.model_dump()
    if principal.platform:
        return data
    data["assignee"] = _actor(principal, incident.assignee)
    data["history"] = tuple(
        {
            **h.model_dump(),
            "by": _actor(principal, h.by),
            "changes": {k: _changed(principal, h.action, k, v) for k, v in h.changes.items()},
        }
        for h in incident.history
    )
    data["decisions"] = tuple(
        {**d.model_dump(), "decided_by": _actor(principal, d.decided_by)}
        for d in incident.decisions
    )
    if principal.sees_all(organizations_of(incident)):
        return data
    data.update(REDACTED_INCIDENT)
    data.update(
        organization_ids=tuple(_mine(principal, incident.organization_ids)),
        affected_organization_ids=tuple(_mine(principal, incident.affected_organization_ids)),
        history=tuple(
            {
                "at": h.at,
                "by": _actor(principal, h.by),
                "action": h.action,
                "why": "",
                "changes": {},
            }
            for h in incident.history
        ),
        redacted=True,
    )
    return data


def incident_view(principal: Principal, incident: Incident) -> IncidentOut:
    return IncidentOut.model_validate(_incident_data(principal, incident))


def incident_detail(
    principal: Principal, incident: Incident, shown: dict[str, Any]
) -> IncidentDetail:
    allowed_next = shown.get("allowed_next", [])
    view = incident_view(principal, incident)
    if view.redacted:
        return IncidentDetail(incident=view, allowed_next=allowed_next)
    return IncidentDetail(
        incident=view,
        facts=shown.get("facts"),
        allowed_next=allowed_next,
        checklist=shown.get("checklist", []),
        legal_hold_request=shown.get("legal_hold_request"),
    )


def scope_filter(
    principal: Principal, organization_id: str | None
) -> tuple[str | None, tuple[str, ...] | None]:
    """(one organization asked for, or the principal's scope as a filter; None: all)."""
    if organization_id is not None:
        if not principal.sees(organization_id):
            raise forbidden()
        return organization_id, None
    if principal.organizations is None:
        return None, None
    return None, tuple(sorted(principal.organizations))


def organizations_to_read(principal: Principal, organization_id: str | None) -> list[str | None]:
    """The organizations to ask a store for one at a time ([None]: all of them)."""
    one, scope = scope_filter(principal, organization_id)
    if one is not None:
        return [one]
    return [None] if scope is None else list(scope)


def time_range(
    since: datetime | None, until: datetime | None, now: datetime, max_days: int
) -> tuple[datetime, datetime]:
    """Defaults: until now, since 24 hours before; bounded to ``max_days``."""
    end = until or now
    start = since or end - timedelta(hours=24)
    if start >= end:
        raise bad_request("since must be before until")
    if end - start > timedelta(days=max_days):
        raise bad_request(f"the time range must not exceed {max_days} days")
    return start, end
