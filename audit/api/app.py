"""``create_app(settings)``: the FastAPI application; nothing is built at import time."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from audit.api import problems
from audit.api.access import check_table, rule_for
from audit.api.access_log import AccessFacts, RequestRecord
from audit.api.deps import authorize
from audit.api.routers import (
    detections,
    disclosures,
    dsr,
    events,
    exports,
    health,
    holds,
    incidents,
    retention,
    verify,
)
from audit.api.wiring import ApiServices, utcnow
from audit.settings import Settings

log = logging.getLogger("audit.api")
_READS = frozenset({"GET", "HEAD"})


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    """The application over the services configured by ``settings``.

    Reads the key files now (a bad one fails here, not on the first request);
    clients and connections are made on first use.
    """
    services = ApiServices(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    app = _assemble(lifespan)
    app.state.services = services

    @app.middleware("http")
    async def record(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = route.path if isinstance(route, APIRoute) else "unmatched"
        response = await _audit(services, request, template, response)
        status = str(response.status_code)
        services.metrics.inc(
            "audit_api_requests_total", route=template, method=request.method, status=status
        )
        services.metrics.observe(
            "audit_api_request_duration_seconds", time.perf_counter() - started, route=template
        )
        return response

    return app


def _assemble(lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None) -> FastAPI:
    app = FastAPI(
        title="elastra-audit API",
        version="1.0.0",
        summary=(
            "Audit events, detections, incidents, lawful disclosure requests, legal holds, "
            "exports, retention and trail verification"
        ),
        description=(
            "Bearer JWT or service API key on every /v1 route. Every request that reads "
            "or changes audit data is itself recorded as an audit event. Errors are "
            "RFC 9457 problem documents."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    problems.install(app)
    app.include_router(health.router)
    protected = [Depends(authorize)]
    served = (events, detections, incidents, disclosures, holds, exports, retention, verify, dsr)
    for module in served:
        app.include_router(module.router, dependencies=protected)
    # Routers carry their full paths (no prefixes), so that a request's
    # scope["route"].path is the template the table and the metrics use.
    check_table(
        (method, route.path)
        for module in (health, *served)
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    )
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document (what docs/openapi.json holds); needs no settings."""
    return _assemble(None).openapi()


async def _audit(
    services: ApiServices, request: Request, template: str, response: Response
) -> Response:
    """Publish the request's audit event; a read whose event cannot be written is withheld."""
    rule = rule_for(request.method, template)
    principal = getattr(request.state, "principal", None)
    if rule.action is None or principal is None:
        return response
    record: RequestRecord = getattr(request.state, "record", RequestRecord())
    route = request.scope.get("route")
    facts = AccessFacts(
        principal=principal,
        action=rule.action,
        resource_type=rule.resource,
        method=request.method,
        route=template,
        status=response.status_code,
        path_params={k: str(v) for k, v in request.path_params.items()} if route else {},
        query=list(request.query_params.multi_items()),
        client_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=request.headers.get("x-request-id", "")[:128] or str(uuid.uuid4()),
        record=record,
    )
    try:
        await run_in_threadpool(services.trail.publish, facts)
    except Exception:
        log.exception("audit event of %s %s not published", request.method, template)
        if request.method in _READS:
            return problems.problem_response(
                503, "audit-unavailable", "Audit trail unavailable", "try again later"
            )
    return response
