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
from audit.api.access import ROUTES, check_table, rule_for
from audit.api.access_log import AccessFacts, RequestRecord
from audit.api.deps import authorize
from audit.api.guard import Guard
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
from audit.settings import Settings
from audit.wiring.api import ApiServices, utcnow

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
    from audit.ui.install import install as install_console  # the console imports the API

    install_console(app, settings)
    # Inner: credentials and the body limit before anything reads the body.
    app.add_middleware(
        Guard,
        routes=ROUTES.keys(),
        authenticator=lambda: services.authenticator,
        body_max=settings.api_body_max_bytes,
        upload_max=settings.api_upload_max_bytes,
    )

    @app.middleware("http")
    async def record(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # counted and audited like any answer, never a bare 500
            log.exception("%s %s failed", request.method, request.url.path)
            response = problems.problem_response(
                500, "internal", "Internal error", "the request failed; it was logged"
            )
        route = request.scope.get("route")
        if isinstance(route, APIRoute):
            template = route.path
        else:
            template = getattr(request.state, "route_template", None) or "unmatched"
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
    from audit.ui.install import mount_static
    from audit.ui.routes import ROUTERS as CONSOLE_ROUTERS  # the console imports the API

    protected = [Depends(authorize)]
    served = (events, detections, incidents, disclosures, holds, exports, retention, verify, dsr)
    for module in served:
        app.include_router(module.router, dependencies=protected)
    for console_router in CONSOLE_ROUTERS:  # the web console: its own sign-in (audit/ui)
        app.include_router(console_router)
    mount_static(app)
    # Routers carry their full paths (no prefixes), so that a request's
    # scope["route"].path is the template the table and the metrics use.
    check_table(
        (method, route.path)
        for router in (*(module.router for module in (health, *served)), *CONSOLE_ROUTERS)
        for route in router.routes
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
        path_params={
            k: str(v)
            for k, v in (
                request.path_params if route else getattr(request.state, "route_params", {})
            ).items()
        },
        query=list(request.query_params.multi_items()),
        client_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=request.headers.get("x-request-id", "")[:128] or str(uuid.uuid4()),
        record=record,
    )
    try:
        await run_in_threadpool(services.access_log.publish, facts)
    except Exception:
        log.exception("audit event of %s %s not published", request.method, template)
        if request.method in _READS:
            return problems.problem_response(
                503, "audit-unavailable", "Audit trail unavailable", "try again later"
            )
    return response
