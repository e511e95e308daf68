"""Console sessions: a signed cookie holding who signed in, with idle and absolute timeouts.

The cookie is signed (itsdangerous, HMAC-SHA256 under AUDIT_UI_SESSION_SECRET)
so its content cannot be changed by the browser; it carries no secret of its
own besides the CSRF token, which a page of another origin cannot read.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer

from audit.api.principal import Principal, parse_roles, parse_scope

COOKIE = "audit_console"
PRE_COOKIE = "audit_console_pre"  # sign-in state before a session exists
COOKIE_PATH = "/ui"


@dataclass(frozen=True)
class Session:
    subject: str
    roles: tuple[str, ...]
    scope: tuple[str, ...]  # organization ids, or ("*",)
    csrf: str
    started: float  # epoch seconds
    seen: float
    via: str  # "oidc" or "dev"

    @property
    def principal(self) -> Principal:
        return Principal(self.subject, parse_roles(self.roles), parse_scope(self.scope), "jwt")

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")


class SessionCodec:
    def __init__(self, secret: bytes, idle_seconds: int, max_seconds: int) -> None:
        self._signer = URLSafeSerializer(secret, salt="audit-console-session")
        self._pre = URLSafeSerializer(secret, salt="audit-console-pre")
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds

    def new(
        self, subject: str, roles: list[str], scope: list[str], via: str, now: datetime
    ) -> Session:
        at = now.timestamp()
        return Session(subject, tuple(roles), tuple(scope), secrets.token_urlsafe(32), at, at, via)

    def dump(self, session: Session) -> str:
        return str(
            self._signer.dumps(
                [
                    session.subject,
                    session.roles,
                    session.scope,
                    session.csrf,
                    session.started,
                    session.seen,
                    session.via,
                ]
            )
        )

    def load(self, cookie: str | None, now: datetime) -> Session | None:
        """The session, or None when absent, forged, idle too long or too old."""
        if not cookie:
            return None
        try:
            subject, roles, scope, csrf, started, seen, via = self._signer.loads(cookie)
            session = Session(
                str(subject),
                tuple(roles),
                tuple(scope),
                str(csrf),
                float(started),
                float(seen),
                str(via),
            )
        except (BadSignature, ValueError, TypeError):
            return None
        at = now.timestamp()
        if at - session.seen > self.idle_seconds or at - session.started > self.max_seconds:
            return None
        return session

    @staticmethod
    def touched(session: Session, now: datetime) -> Session:
        return replace(session, seen=now.timestamp())

    def dump_pre(self, data: dict[str, str]) -> str:
        return str(self._pre.dumps(data))

    def load_pre(self, cookie: str | None) -> dict[str, str]:
        if not cookie:
            return {}
        try:
            data = self._pre.loads(cookie)
        except BadSignature:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
