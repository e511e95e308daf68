"""Authenticate, authorize and bound the body BEFORE the application reads it.

FastAPI reads and parses a JSON body before it resolves a route's
dependencies, so a route guarded by a dependency alone parses what anyone
sends (a 40 MB body without a token, JSON nested 5,000 deep) and answers 400
where 401 or 403 is due, leaving no audit event. This ASGI middleware runs
first: it finds the route, answers 401/403 from the route table
(audit/api/access.py), then reads the body up to the limit (413 past it)
and only then hands the request, with its principal, to the application.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audit.api.access import allowed, rule_for
from audit.api.access_log import RequestRecord
from audit.api.authn import Authenticator, Unauthenticated
from audit.api.problems import problem_response

# Routes that take an upload: their own, larger, limit (api_upload_max_bytes).
# The console's upload form takes the same bundles as the API route.
UPLOADS = frozenset({("POST", "/v1/exports/verify"), ("POST", "/ui/exports/verify")})


def _compiled(templates: Iterable[tuple[str, str]]) -> list[tuple[str, str, re.Pattern[str]]]:
    return [(method, path, compile_path(path)[0]) for method, path in templates]


def route_of(
    compiled: list[tuple[str, str, re.Pattern[str]]], method: str, path: str
) -> tuple[str | None, dict[str, Any]]:
    """The route template of the table a request matches (None: none) and its path params.

    Matched against the route table itself (audit/api/access.py), which
    ``check_table`` keeps equal to the served routes: no router internals.
    """
    for rule_method, template, regex in compiled:
        if rule_method == method:
            found = regex.match(path)
            if found is not None:
                return template, found.groupdict()
    return None, {}


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Iterable[tuple[str, str]],
        authenticator: Callable[[], Authenticator],
        body_max: int,
        upload_max: int,
    ) -> None:
        self._app = app
        self._routes = _compiled(routes)
        self._authenticator = authenticator
        self._body_max = body_max
        self._upload_max = upload_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        template, params = route_of(self._routes, method, scope["path"])
        rule = rule_for(method, template) if template else None
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        # For the audit of an answer given here, before the router has run.
        state["route_template"] = template
        state["route_params"] = params
        if rule is not None and not rule.public:
            request = Request(scope)
            try:
                principal = self._authenticator().authenticate(request.headers.get("authorization"))
            except Unauthenticated as err:
                await _answer(
                    scope,
                    receive,
                    send,
                    401,
                    "unauthenticated",
                    "Unauthenticated",
                    str(err),
                    {"WWW-Authenticate": "Bearer"},
                )
                return
            state["principal"] = principal
            state["record"] = RequestRecord()
            if not allowed(rule, principal.roles):
                await _answer(
                    scope,
                    receive,
                    send,
                    403,
                    "forbidden",
                    "Forbidden",
                    "not allowed, or no such resource",
                )
                return
        upload = (method, template or scope["path"]) in UPLOADS
        limit = self._upload_max if upload else self._body_max
        body = await _read_body(scope, receive, limit)
        if body is None:
            await _answer(
                scope,
                receive,
                send,
                413,
                "too-large",
                "Request body too large",
                f"at most {limit} bytes",
            )
            return
        await self._app(scope, _replay(body, receive), send)


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is larger than ``limit``."""
    headers = dict(scope.get("headers") or [])
    declared = headers.get(b"content-length", b"").decode("latin-1")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when the client goes

    return replay


async def _answer(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
) -> None:
    response = problem_response(status, slug, title, detail, headers=headers)
    await response(scope, receive, send)
