"""Hooks the console into the app: its static files, security headers,
session cookie refresh, and HTML (not JSON) error pages under /ui."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from audit.settings import Settings
from audit.ui.guard import ConsoleState, SignInRequired, build_state
from audit.ui.render import STATIC
from audit.ui.session import COOKIE, COOKIE_PATH

PREFIX = "/ui"
# No inline script or style anywhere: scripts and styles come from /ui/static only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "strict-transport-security": "max-age=31536000",
}


def mount_static(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="ui-static")


def install(app: FastAPI, settings: Settings) -> None:
    state = build_state(settings)
    app.state.console = state
    _html_errors(app, state)

    @app.middleware("http")
    async def console_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith(PREFIX):
            return response
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith(f"{PREFIX}/static"):
            response.headers["cache-control"] = "no-store"
        session = getattr(request.state, "ui_session", None)
        # A page's own polling (htmx: the queue, an export's progress) is not
        # the viewer's activity: it must not keep an idle session alive.
        polled = request.headers.get("hx-request") == "true"
        if (
            session is not None
            and not polled
            and COOKIE not in response.headers.get("set-cookie", "")
        ):
            set_session_cookie(response, state, state.sessions.dump(session))
        return response


def set_session_cookie(response: Response, state: ConsoleState, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=state.settings.ui_session_max_seconds,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )


def _html_errors(app: FastAPI, state: ConsoleState) -> None:
    """Under /ui, the API's problem documents become pages with the same status."""

    async def sign_in(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = PREFIX
        return RedirectResponse(
            app.url_path_for("sign_in_page") + "?" + _query(next=target), status_code=303
        )

    for key, original in list(app.exception_handlers.items()):
        app.add_exception_handler(key, _wrapped(original, state))
    app.add_exception_handler(SignInRequired, sign_in)


def _query(**values: str) -> str:
    from urllib.parse import urlencode

    return urlencode(values)


def _wrapped(
    original: Callable[[Request, Any], Any], state: ConsoleState
) -> Callable[[Request, Any], Awaitable[Response]]:
    async def handler(request: Request, exc: Any) -> Response:
        result = original(request, exc)
        response: Response = await result if hasattr(result, "__await__") else result
        path = request.url.path
        problem_json = "problem+json" in response.headers.get("content-type", "")
        if not path.startswith(PREFIX) or path.startswith(f"{PREFIX}/static") or not problem_json:
            return response
        try:
            problem = json.loads(bytes(response.body))
        except (ValueError, AttributeError):
            problem = {}
        return state.pages.render(
            request,
            "error.html",
            status=response.status_code,
            code=response.status_code,
            title=problem.get("title", "Error"),
            detail=problem.get("detail", ""),
            errors=problem.get("errors") or [],
        )

    return handler
