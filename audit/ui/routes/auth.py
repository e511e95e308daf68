"""Signing in (OpenID Connect, or the development picker on the local stack) and out."""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from audit.api.authn import Unauthenticated
from audit.api.principal import Role
from audit.api.problems import ApiProblem
from audit.ui.guard import Console, ConsoleState, text
from audit.ui.install import set_session_cookie
from audit.ui.routes.common import services_of
from audit.ui.session import COOKIE, COOKIE_PATH, PRE_COOKIE

router = APIRouter(include_in_schema=False)
_PRE_MAX_AGE = 600  # seconds a sign-in may take at the identity provider


def _safe_next(value: str | None) -> str:
    """Only a console path: never another site (open redirect)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/incidents"


def _pre(response: Response, state: ConsoleState, data: dict[str, str]) -> None:
    response.set_cookie(
        PRE_COOKIE,
        state.sessions.dump_pre({**data, "at": str(int(time.time()))}),
        max_age=_PRE_MAX_AGE,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="lax",  # the identity provider's redirect back is a top-level GET
    )


def _read_pre(request: Request, state: ConsoleState) -> dict[str, str]:
    data = state.sessions.load_pre(request.cookies.get(PRE_COOKIE))
    if not data.get("at", "").isdigit() or time.time() - int(data["at"]) > _PRE_MAX_AGE:
        return {}
    return data


@router.get("/ui")
def landing() -> RedirectResponse:
    return RedirectResponse("/ui/incidents", status_code=303)


@router.get("/ui/sign-in", name="sign_in_page")
def sign_in_page(request: Request, state: Console) -> Response:
    token = secrets.token_urlsafe(32)
    response = state.pages.render(
        request,
        "sign_in.html",
        next=_safe_next(request.query_params.get("next")),
        dev=state.dev_sign_in,
        oidc=state.oidc is not None,
        pre_csrf=token,
        roles=[r.value for r in Role],
        ended=request.query_params.get("ended") == "1",
    )
    _pre(response, state, {"csrf": token})
    return response


@router.post("/ui/sign-in/dev")
async def dev_sign_in(request: Request, state: Console) -> Response:
    if not state.dev_sign_in:
        raise ApiProblem(
            403, "forbidden", "Forbidden", "the development sign-in is off in this environment"
        )
    form = await request.form()
    expected = _read_pre(request, state).get("csrf", "")
    if not expected or not secrets.compare_digest(expected, text(form, "csrf_token")):
        raise ApiProblem(403, "csrf", "Forbidden", "the form's CSRF token is missing or wrong")
    name = text(form, "name")
    role = text(form, "role")
    scope = [s.strip() for s in text(form, "scope").split(",") if s.strip()]
    if not name or len(name) > 128 or role not in {r.value for r in Role} or not scope:
        raise ApiProblem(400, "invalid-request", "Invalid request", "name, role and scope needed")
    now = services_of(request).clock()
    session = state.sessions.new(f"dev:{name}", [role], scope, "dev", now)
    response = RedirectResponse(_safe_next(text(form, "next")), status_code=303)
    set_session_cookie(response, state, state.sessions.dump(session))
    response.delete_cookie(PRE_COOKIE, path=COOKIE_PATH)
    return response


def _callback_url(request: Request, state: ConsoleState) -> str:
    base = state.settings.ui_public_url
    if base:
        return base.rstrip("/") + "/ui/sign-in/callback"
    return str(request.url_for("oidc_callback"))


@router.get("/ui/sign-in/oidc")
def oidc_start(request: Request, state: Console) -> Response:
    if state.oidc is None:
        raise ApiProblem(404, "not-found", "Not found", "OpenID Connect sign-in is not configured")
    started = state.oidc.start(_callback_url(request, state))
    response = RedirectResponse(started.url, status_code=303)
    _pre(
        response,
        state,
        {
            "state": started.state,
            "nonce": started.nonce,
            "verifier": started.verifier,
            "next": _safe_next(request.query_params.get("next")),
        },
    )
    return response


@router.get("/ui/sign-in/callback", name="oidc_callback")
def oidc_callback(request: Request, state: Console) -> Response:
    if state.oidc is None:
        raise ApiProblem(404, "not-found", "Not found", "OpenID Connect sign-in is not configured")
    pre = _read_pre(request, state)
    given = request.query_params.get("state", "")
    code = request.query_params.get("code", "")
    if not pre.get("state") or not secrets.compare_digest(pre["state"], given) or not code:
        raise Unauthenticated("the sign-in expired or did not start here; sign in again")
    signed = state.oidc.finish(
        _callback_url(request, state), code, verifier=pre["verifier"], nonce=pre["nonce"]
    )
    now = services_of(request).clock()
    session = state.sessions.new(signed.subject, signed.roles, signed.scope, "oidc", now)
    response = RedirectResponse(_safe_next(pre.get("next")), status_code=303)
    set_session_cookie(response, state, state.sessions.dump(session))
    response.delete_cookie(PRE_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/ui/sign-out")
async def sign_out(request: Request, state: Console) -> Response:
    form = await request.form()
    now = services_of(request).clock()
    session = state.sessions.load(request.cookies.get(COOKIE), now)
    if session is not None and not session.csrf_ok(text(form, "csrf_token")):
        raise ApiProblem(403, "csrf", "Forbidden", "the form's CSRF token is missing or wrong")
    response = RedirectResponse("/ui/sign-in?ended=1", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=True, httponly=True, samesite="strict")
    return response
