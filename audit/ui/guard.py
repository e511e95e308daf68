"""Who is looking at a page, whether the route table lets them, and CSRF on every form."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from audit.api.access import allowed, rule_for
from audit.api.access_log import RequestRecord
from audit.api.deps import route_template
from audit.api.principal import Principal
from audit.api.problems import ApiProblem, forbidden
from audit.settings import Settings
from audit.ui.oidc import OidcClient
from audit.ui.render import Pages
from audit.ui.session import COOKIE, SessionCodec


class SignInRequired(Exception):
    """No valid session: a page view goes to the sign-in page."""


@dataclass
class ConsoleState:
    settings: Settings
    sessions: SessionCodec
    pages: Pages
    oidc: OidcClient | None

    @property
    def dev_sign_in(self) -> bool:
        return self.settings.ui_dev_sign_in and self.settings.environment != "production"


def build_state(settings: Settings) -> ConsoleState:
    secret = settings.ui_session_secret
    key = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
    codec = SessionCodec(key, settings.ui_session_idle_seconds, settings.ui_session_max_seconds)
    oidc = OidcClient(settings) if settings.ui_oidc_issuer else None
    return ConsoleState(settings, codec, Pages(), oidc)


def console(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


Console = Annotated[ConsoleState, Depends(console)]


def signed_in(request: Request, state: Console) -> Principal:
    """The session's principal, allowed on this route by the API's table (deny by default).

    Sets what the access log middleware records, exactly as the API's
    ``authorize`` does, so a page view leaves the API request's audit event.
    """
    now = request.app.state.services.clock()
    session = state.sessions.load(request.cookies.get(COOKIE), now)
    if session is None:
        raise SignInRequired()
    request.state.ui_session = state.sessions.touched(session, now)
    principal = session.principal
    request.state.principal = principal
    request.state.record = RequestRecord()
    if not allowed(rule_for(request.method, route_template(request)), principal.roles):
        raise forbidden()
    return principal


Viewer = Annotated[Principal, Depends(signed_in)]


async def checked_form(request: Request, principal: Viewer) -> FormData:
    """The posted form, refused (403) unless it carries the session's CSRF token."""
    form = await request.form()
    token = form.get("csrf_token")
    session = request.state.ui_session
    if not isinstance(token, str) or not session.csrf_ok(token):
        raise ApiProblem(403, "csrf", "Forbidden", "the form's CSRF token is missing or wrong")
    return form


Form = Annotated[FormData, Depends(checked_form)]


def record_of(request: Request, principal: Viewer) -> RequestRecord:
    record: RequestRecord = request.state.record
    return record


Record = Annotated[RequestRecord, Depends(record_of)]


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
