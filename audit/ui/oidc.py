"""OpenID Connect sign-in: authorization code with PKCE (S256), via Authlib.

The identity provider's discovery document and keys are fetched on first
use. The ID token's signature, issuer, audience, expiry and nonce are
checked; its roles and organizations claims map to the same roles and tenant
scope as an API bearer token (audit/api/authn.py).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebKey, jwt
from authlib.jose.errors import JoseError

from audit.api.authn import Unauthenticated
from audit.errors import ConfigurationError
from audit.settings import Settings

_TIMEOUT = 10.0


@dataclass(frozen=True)
class Started:
    url: str
    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True)
class SignedIn:
    subject: str
    roles: list[str]
    scope: list[str]


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        if not (settings.ui_oidc_issuer and settings.ui_oidc_client_id):
            raise ConfigurationError("set AUDIT_UI_OIDC_ISSUER and AUDIT_UI_OIDC_CLIENT_ID")
        self._issuer = settings.ui_oidc_issuer.rstrip("/")
        self._client_id = settings.ui_oidc_client_id
        self._secret_file = settings.ui_oidc_client_secret_file
        self._scopes = settings.ui_oidc_scopes
        self._roles_claim = settings.ui_oidc_roles_claim
        self._orgs_claim = settings.ui_oidc_orgs_claim
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: Any = None

    def _secret(self) -> str | None:
        if not self._secret_file:
            return None  # a public client: PKCE alone
        try:
            return Path(self._secret_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigurationError(
                f"cannot read AUDIT_UI_OIDC_CLIENT_SECRET_FILE: {err}"
            ) from err

    def _discovery(self) -> tuple[dict[str, Any], Any]:
        with self._lock:
            if self._metadata is None:
                url = f"{self._issuer}/.well-known/openid-configuration"
                metadata = httpx.get(url, timeout=_TIMEOUT).raise_for_status().json()
                if metadata.get("issuer", "").rstrip("/") != self._issuer:
                    raise ConfigurationError(f"{url}: issuer {metadata.get('issuer')!r} differs")
                jwks = httpx.get(metadata["jwks_uri"], timeout=_TIMEOUT).raise_for_status().json()
                self._keys = JsonWebKey.import_key_set(jwks)
                self._metadata = metadata
            return self._metadata, self._keys

    def _client(self, redirect_uri: str) -> OAuth2Client:
        return OAuth2Client(
            client_id=self._client_id,
            client_secret=self._secret(),
            scope=self._scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if self._secret_file else "none",
            timeout=_TIMEOUT,
        )

    def start(self, redirect_uri: str) -> Started:
        metadata, _ = self._discovery()
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(24)
        with self._client(redirect_uri) as client:
            url, state = client.create_authorization_url(
                metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
        return Started(url, state, nonce, verifier)

    def finish(self, redirect_uri: str, code: str, *, verifier: str, nonce: str) -> SignedIn:
        metadata, keys = self._discovery()
        with self._client(redirect_uri) as client:
            token = client.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=verifier
            )
        id_token = token.get("id_token")
        if not id_token:
            raise Unauthenticated("the identity provider sent no ID token")
        try:
            claims = jwt.decode(
                id_token,
                keys,
                claims_options={
                    "iss": {"essential": True, "value": metadata["issuer"]},
                    "aud": {"essential": True, "value": self._client_id},
                    "exp": {"essential": True},
                    "sub": {"essential": True},
                    "nonce": {"essential": True, "value": nonce},
                },
            )
            claims.validate(leeway=30)
        except JoseError as err:
            raise Unauthenticated(f"ID token refused: {err.error}") from err
        roles = claims.get(self._roles_claim, [])
        orgs = claims.get(self._orgs_claim, [])
        if isinstance(orgs, str):
            orgs = [orgs]
        if not (isinstance(roles, list) and isinstance(orgs, list)):
            raise Unauthenticated("the roles and organizations claims must be lists")
        return SignedIn(str(claims["sub"]), [str(r) for r in roles], [str(o) for o in orgs])
