"""Named dependency types of the routes (``CurrentPrincipal``, ``Services``, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from audit.api.access import allowed, rule_for
from audit.api.access_log import RequestRecord
from audit.api.principal import Principal
from audit.api.problems import forbidden
from audit.wiring.api import ApiServices

_bearer = HTTPBearer(auto_error=False, description="a JWT, or a service API key")


def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


def route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


def authorize(
    request: Request,
    services: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate, then allow the route to the principal's roles (deny by default).

    The guard middleware (audit/api/guard.py) has done both before the body was
    read; this keeps the route safe (and documented in OpenAPI) on its own.
    """
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        principal = services.authenticator.authenticate(request.headers.get("authorization"))
        request.state.principal = principal
    if not isinstance(getattr(request.state, "record", None), RequestRecord):
        request.state.record = RequestRecord()
    if not allowed(rule_for(request.method, route_template(request)), principal.roles):
        raise forbidden()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authorize)]


def get_record(request: Request, principal: CurrentPrincipal) -> RequestRecord:
    record: RequestRecord = request.state.record
    return record


Record = Annotated[RequestRecord, Depends(get_record)]


def get_now(services: Services) -> datetime:
    return services.clock()


Now = Annotated[datetime, Depends(get_now)]
