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


def detection_view(principal: Principal, detection: Detection) -> DetectionOut:
    data = detection.model_dump()
    if principal.sees_all(organizations_of(detection)):
        return DetectionOut.model_validate(data)
    data.update(
        organization_ids=_mine(principal, detection.organization_ids),
        affected_organization_ids=_mine(principal, detection.affected_organization_ids),
        group_key={},
        entities={},
        event_ids=[],
        redacted=True,
    )
    return DetectionOut.model_validate(data)


def _redacted_incident(principal: Principal, incident: Incident) -> dict[str, Any]:
    data = incident.model_dump()
    data.update(
        organization_ids=tuple(_mine(principal, incident.organization_ids)),
        affected_organization_ids=tuple(_mine(principal, incident.affected_organization_ids)),
        entities={},
        detection_ids=(),
        evidence=(),
        decisions=(),
        history=tuple(
            {"at": h.at, "by": h.by, "action": h.action, "why": "", "changes": {}}
            for h in incident.history
        ),
        redacted=True,
    )
    return data


def incident_view(principal: Principal, incident: Incident) -> IncidentOut:
    if principal.sees_all(organizations_of(incident)):
        return IncidentOut.model_validate(incident.model_dump())
    return IncidentOut.model_validate(_redacted_incident(principal, incident))


def incident_detail(
    principal: Principal, incident: Incident, shown: dict[str, Any]
) -> IncidentDetail:
    allowed_next = shown.get("allowed_next", [])
    if not principal.sees_all(organizations_of(incident)):
        view = IncidentOut.model_validate(_redacted_incident(principal, incident))
        return IncidentDetail(incident=view, allowed_next=allowed_next)
    return IncidentDetail(
        incident=IncidentOut.model_validate(incident.model_dump()),
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
