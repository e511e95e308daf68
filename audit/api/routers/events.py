"""``/v1/events``: search (cursor pages), an entity's timeline, an entity's top values."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from audit.api.cursor import query_digest
from audit.api.deps import CurrentPrincipal, Now, Record, Services
from audit.api.principal import Principal, sees_restricted
from audit.api.problems import bad_request, responses
from audit.api.schemas.common import EntityKind
from audit.api.schemas.events import (
    EntityParams,
    EventPageOut,
    EventSearchParams,
    TimelineOut,
    TimelineParams,
    TopOut,
    TopParams,
    TopValue,
)
from audit.api.views import detection_view, incident_view, scope_filter, time_range
from audit.services.ports.events import EventQuery

router = APIRouter(tags=["events"], responses=responses(400, 401, 403, 503))


@router.get("/v1/events", response_model=EventPageOut, summary="Search events, newest first")
def search_events(
    params: Annotated[EventSearchParams, Query()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> EventPageOut:
    org, orgs = scope_filter(principal, params.organization_id)
    record.organization_id = org
    supplied = params.model_dump(mode="json", exclude={"cursor", "limit"}, exclude_none=True)
    digest = query_digest({**supplied, "scope": principal.scope_list})
    pit_id: str | None = None
    after: list[Any] | None = None
    if params.cursor:
        pit_id, after, extra = services.cursors.decode(params.cursor, digest)
        try:
            since, until = (datetime.fromisoformat(extra["s"]), datetime.fromisoformat(extra["u"]))
        except (KeyError, TypeError, ValueError):
            raise bad_request("the cursor is not valid; search again without it") from None
    else:
        since, until = time_range(
            params.since, params.until, now, services.settings.api_max_range_days
        )
    query = EventQuery(
        organization_id=org,
        organization_ids=orgs,
        user_id=params.user_id,
        source_ip=str(params.source_ip) if params.source_ip else None,
        action=params.action,
        outcome=params.outcome,
        category=params.category,
        text=params.q or None,
        since=since,
        until=until,
        include_restricted=sees_restricted(principal),
    )
    size = min(params.limit, services.settings.api_max_page_size)
    page = services.events.page(query, size, pit_id=pit_id, after=after)
    record.count = len(page.events)
    cursor = None
    if page.pit_id is not None and page.after is not None:
        extra = {"s": since.isoformat(), "u": until.isoformat()}
        cursor = services.cursors.encode(page.pit_id, page.after, digest, extra)
    return EventPageOut(events=page.events, count=len(page.events), next_cursor=cursor)


def _entity_query(
    principal: Principal, params: EntityParams, since: datetime, until: datetime
) -> tuple[EventQuery, tuple[str, ...] | None, str | None]:
    org, orgs = scope_filter(principal, params.organization_id)
    entity: dict[str, str] = {}
    kind: EntityKind = params.entity
    if kind == "ip":
        try:
            entity["source_ip"] = str(ipaddress.ip_address(params.value))
        except ValueError:
            raise bad_request("value must be an IPv4 or IPv6 address for entity=ip") from None
    elif kind == "user":
        entity["user_id"] = params.value
    elif kind == "session":
        entity["session_id"] = params.value
    else:
        entity["credential_id"] = params.value
    query = EventQuery(
        organization_id=org,
        organization_ids=orgs,
        since=since,
        until=until,
        include_restricted=sees_restricted(principal),
        **entity,
    )
    return query, orgs, org


@router.get(
    "/v1/events/timeline",
    response_model=TimelineOut,
    summary="An entity's events, with the detections and incidents touching it",
)
def timeline(
    params: Annotated[TimelineParams, Query()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> TimelineOut:
    since, until = time_range(params.since, params.until, now, services.settings.api_max_range_days)
    query, orgs, org = _entity_query(principal, params, since, until)
    record.organization_id = org
    size = min(params.limit, services.settings.api_max_page_size)
    events, total = services.events.first(query, size)
    value = query.source_ip or params.value
    scope = [org] if org else (list(orgs) if orgs is not None else None)
    detections, incidents = services.incidents.touching(
        services.events.entity_fields(params.entity),
        value,
        since=since,
        until=until,
        organization_ids=scope,
    )
    record.count = len(events) + len(detections) + len(incidents)
    return TimelineOut(
        entity=params.entity,
        value=value,
        since=since,
        until=until,
        event_count=total,
        truncated=total > len(events),
        events=events,
        detections=[detection_view(principal, d) for d in detections],
        incidents=[incident_view(principal, i) for i in incidents],
    )


@router.get("/v1/events/top", response_model=TopOut, summary="An entity's most frequent values")
def top(
    params: Annotated[TopParams, Query()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
    now: Now,
) -> TopOut:
    since, until = time_range(params.since, params.until, now, services.settings.api_max_range_days)
    query, _, org = _entity_query(principal, params, since, until)
    record.organization_id = org
    values, total = services.events.top(query, params.size)
    record.count = total

    def bucket(name: str) -> list[TopValue]:
        return [TopValue(value=v, count=c) for v, c in values[name]]

    return TopOut(
        entity=params.entity,
        value=query.source_ip or params.value,
        since=since,
        until=until,
        event_count=total,
        countries=bucket("countries"),
        asns=bucket("asns"),
        actions=bucket("actions"),
        ips=bucket("ips"),
    )
