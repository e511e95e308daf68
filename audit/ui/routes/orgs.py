"""An organization's own page: its audit log, its exports (listed, downloaded, started),
its retention class (changed within the policy's choices), its trail verification. A
principal scoped to other organizations gets the API's 403, whatever id is put in the
address."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from audit.api.access import allowed, rule_for
from audit.api.problems import forbidden
from audit.api.routers import events as events_api
from audit.api.routers import exports as exports_api
from audit.api.routers import retention as retention_api
from audit.api.schemas.events import EventSearchParams
from audit.api.schemas.jobs import JobListParams
from audit.api.schemas.retention import RetentionClassIn
from audit.ui.guard import Console, Form, Record, Viewer, text
from audit.ui.routes.common import after_post, build, services_of

router = APIRouter(include_in_schema=False)


@router.get("/ui/orgs/{organization_id}")
def org_page(
    organization_id: str, request: Request, principal: Viewer, record: Record, state: Console
) -> Response:
    record.resource_id = organization_id
    record.organization_id = organization_id
    if not principal.sees(organization_id):
        raise forbidden()
    services = services_of(request)
    now = services.clock()
    wiring = services.retention
    params = build(
        EventSearchParams,
        {"organization_id": organization_id, "since": now - timedelta(days=30), "limit": 50},
    )
    page = events_api.search_events(params, principal, services, record, now)
    events_read = record.count
    # The exports through the API's listing (same scope check, same view), shown to
    # the roles that may list them; the page's own audit event stays "organization".
    exports = None
    if allowed(rule_for("GET", "/v1/exports"), principal.roles):
        listing = build(JobListParams, {"organization_id": organization_id})
        exports = exports_api.list_exports(listing, principal, services, record).jobs
    record.resource_id = organization_id
    record.organization_id = organization_id
    record.count = events_read
    return state.pages.render(
        request,
        "org.html",
        organization_id=organization_id,
        current=wiring.org_store.get_class(organization_id),
        choices=wiring.policy.org_selectable_classes,
        events=page.events,
        exports=exports,
        done=request.query_params.get("done", ""),
    )


@router.post("/ui/orgs/{organization_id}/retention")
def change_class(
    organization_id: str, request: Request, form: Form, principal: Viewer, record: Record
) -> Response:
    services = services_of(request)
    body = build(
        RetentionClassIn,
        {"retention_class": text(form, "retention_class"), "reason": text(form, "reason")},
    )
    retention_api.set_retention_class(
        organization_id, body, principal, services, record, services.clock()
    )
    return after_post(f"/ui/orgs/{organization_id}", done="retention class changed")
