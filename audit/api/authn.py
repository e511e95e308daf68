"""Authentication: bearer JWTs verified against configured public keys, and hashed API keys.

JWTs: the header's ``alg`` must be in the allow-list (asymmetric algorithms
only, so ``none`` and HMAC signed with a public key are refused before any
key is tried) and must fit the key's type; issuer, audience, expiry and
issued-at are required, with a bounded clock skew and a maximum lifetime.
Claims: ``sub`` (the principal: printable, no control characters),
``roles`` (list of strings), ``orgs`` (a list: organization ids, or exactly
``["*"]`` for platform staff; a string, an empty list or a blank id is
refused). Every claim is type-checked: whatever a signed token holds, the
answer is a principal or 401, never an error.

API keys: ``Authorization: Bearer <key>`` where the key is not a JWT; the
file holds ``sha256:<hex> principal roles scope`` lines (roles and scope
comma-separated), never the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from audit.api.principal import Principal, ScopeError, parse_roles, parse_scope
from audit.errors import AuditError, ConfigurationError
from audit.settings import Settings

_ASYMMETRIC = {
    "RS256": rsa.RSAPublicKey,
    "RS384": rsa.RSAPublicKey,
    "RS512": rsa.RSAPublicKey,
    "PS256": rsa.RSAPublicKey,
    "PS384": rsa.RSAPublicKey,
    "PS512": rsa.RSAPublicKey,
    "ES256": ec.EllipticCurvePublicKey,
    "ES384": ec.EllipticCurvePublicKey,
    "ES512": ec.EllipticCurvePublicKey,
}
_EDDSA_TYPES = (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)
_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)
_KEY_LINE = re.compile(r"^sha256:([0-9a-f]{64})\s+(\S+)\s+(\S+)\s+(\S+)\s*$")
_MAX_TOKEN = 16_384
# A subject is written into audit events (user.id): printable, one line.
_SUBJECT_MAX = 256


def _printable_subject(subject: str) -> bool:
    """1-256 characters, none of them a control, format or separator character.

    ``str.isprintable`` and not a character class: C1 controls (U+0080-U+009F)
    and line separators also break an audit line or a log viewer.
    """
    return 0 < len(subject) <= _SUBJECT_MAX and subject.isprintable()


_MAX_LIST = 100


class Unauthenticated(AuditError):
    """No credentials, or credentials that do not verify: answer 401."""


@dataclass(frozen=True)
class _Key:
    kid: str | None
    key: Any


@dataclass(frozen=True)
class _ApiKey:
    digest: bytes
    principal: Principal


def _fits(alg: str, key: Any) -> bool:
    if alg == "EdDSA":
        return isinstance(key, _EDDSA_TYPES)
    expected = _ASYMMETRIC.get(alg)
    return expected is not None and isinstance(key, expected)


def load_public_keys(path: str) -> list[_Key]:
    """PEM public keys (one or more blocks) or a JWKS document (``{"keys": [...]}``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigurationError(f"cannot read AUDIT_API_JWT_KEY_FILE {path}: {err}") from err
    keys: list[_Key] = []
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
            for jwk in document["keys"]:
                if jwk.get("kty") == "oct":
                    raise ConfigurationError(f"{path}: symmetric (oct) keys are refused")
                if "d" in jwk or "p" in jwk:
                    # A private key here would verify nothing (and should not be
                    # on the API host at all): refuse it at start.
                    raise ConfigurationError(
                        f"{path}: key {jwk.get('kid') or '(no kid)'} is a private key; "
                        "put only public keys in AUDIT_API_JWT_KEY_FILE"
                    )
                keys.append(_Key(jwk.get("kid"), jwt.PyJWK(jwk).key))
        except (ValueError, KeyError, TypeError, jwt.PyJWTError) as err:
            raise ConfigurationError(f"{path}: not a valid JWKS document: {err}") from err
    else:
        for block in _PEM_BLOCK.findall(text):
            try:
                keys.append(_Key(None, load_pem_public_key(block.encode())))
            except ValueError as err:
                raise ConfigurationError(f"{path}: not a PEM public key: {err}") from err
    if not keys:
        raise ConfigurationError(f"{path}: no public key found (PEM blocks or a JWKS)")
    return keys


def load_api_keys(path: str) -> list[_ApiKey]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ConfigurationError(f"cannot read AUDIT_API_KEYS_FILE {path}: {err}") from err
    keys = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _KEY_LINE.match(line.strip())
        if match is None:
            raise ConfigurationError(
                f"{path}:{number}: expected 'sha256:<64 hex> principal roles scope'"
            )
        digest, principal, roles, scope = match.groups()
        try:
            organizations = parse_scope(v for v in scope.split(",") if v)
        except ScopeError as err:
            raise ConfigurationError(f"{path}:{number}: scope refused: {err}") from err
        keys.append(
            _ApiKey(
                bytes.fromhex(digest),
                Principal(principal, parse_roles(roles.split(",")), organizations, "api_key"),
            )
        )
    return keys


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        algorithms = [a.strip() for a in settings.api_jwt_algorithms.split(",") if a.strip()]
        refused = [a for a in algorithms if a != "EdDSA" and a not in _ASYMMETRIC]
        if refused:
            raise ConfigurationError(
                f"AUDIT_API_JWT_ALGORITHMS: {', '.join(refused)} refused; "
                "only asymmetric algorithms (RS*, PS*, ES*, EdDSA) are allowed"
            )
        self._algorithms = frozenset(algorithms)
        self._keys: list[_Key] = []
        if settings.api_jwt_key_file:
            if not settings.api_jwt_issuer or not settings.api_jwt_audience:
                raise ConfigurationError(
                    "set AUDIT_API_JWT_ISSUER and AUDIT_API_JWT_AUDIENCE with the key file"
                )
            self._keys = load_public_keys(settings.api_jwt_key_file)
        self._api_keys = load_api_keys(settings.api_keys_file) if settings.api_keys_file else []
        if not self._keys and not self._api_keys:
            raise ConfigurationError(
                "nobody could authenticate: set AUDIT_API_JWT_KEY_FILE or AUDIT_API_KEYS_FILE"
            )
        self._issuer = settings.api_jwt_issuer
        self._audience = settings.api_jwt_audience
        self._leeway = settings.api_jwt_leeway_seconds
        self._max_lifetime = settings.api_jwt_max_lifetime_seconds

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller's principal, or :class:`Unauthenticated` (nothing else escapes)."""
        try:
            return self._authenticate(authorization)
        except Unauthenticated:
            raise
        except Exception as err:
            raise Unauthenticated("credentials refused") from err

    def _authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("no credentials: send Authorization: Bearer <token>")
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials or len(credentials) > _MAX_TOKEN:
            raise Unauthenticated("expected Authorization: Bearer <token>")
        if credentials.count(".") == 2:
            return self._jwt(credentials)
        return self._api_key(credentials)

    def _api_key(self, key: str) -> Principal:
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for entry in self._api_keys:  # compare with every entry: no timing hint
            if hmac.compare_digest(entry.digest, digest):
                found = entry.principal
        if found is None:
            raise Unauthenticated("unknown API key")
        return found

    def _jwt(self, token: str) -> Principal:
        if not self._keys:
            raise Unauthenticated("bearer tokens are not accepted here")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise Unauthenticated("malformed token") from err
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise Unauthenticated("token algorithm not allowed")
        kid = header.get("kid")
        candidates = [
            k for k in self._keys if _fits(alg, k.key) and (kid is None or k.kid in (None, kid))
        ]
        for candidate in candidates:
            try:
                claims = jwt.decode(
                    token,
                    candidate.key,
                    algorithms=[alg],
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=self._leeway,
                    options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as err:
                raise Unauthenticated(f"token refused: {type(err).__name__}") from err
            except Exception as err:  # a claim PyJWT did not expect: still a 401
                raise Unauthenticated("token refused: malformed claims") from err
            return principal_from_claims(claims, self._max_lifetime)
        raise Unauthenticated("token signature does not verify")


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strings(value: Any) -> TypeGuard[list[str]]:
    return (
        isinstance(value, list)
        and len(value) <= _MAX_LIST
        and all(isinstance(v, str) and len(v) <= 256 for v in value)
    )


def principal_from_claims(claims: dict[str, Any], max_lifetime: int) -> Principal:
    """The principal of verified claims; any claim of the wrong type or form: 401."""
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _number(exp) or not _number(iat):
        raise Unauthenticated("token exp and iat must be numbers")
    if exp - iat > max_lifetime:
        raise Unauthenticated("token lifetime too long")
    subject, roles, orgs = claims.get("sub"), claims.get("roles", []), claims.get("orgs")
    if not isinstance(subject, str) or not _printable_subject(subject):
        raise Unauthenticated("token subject invalid: 1-256 printable characters")
    if not _strings(roles):
        raise Unauthenticated("token roles must be a list of strings")
    if not _strings(orgs):
        raise Unauthenticated('token orgs must be a list: organization ids, or ["*"]')
    try:
        scope = parse_scope(orgs)
    except ScopeError as err:
        raise Unauthenticated(f"token orgs refused: {err}") from err
    return Principal(subject, parse_roles(roles), scope, "jwt")
