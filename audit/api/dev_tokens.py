"""Development key pairs and tokens for the API (``audit api keypair|token``).

Refused when ``AUDIT_ENVIRONMENT=production``: tokens there come from the
identity provider. See docs/api.md, "A first call".
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from audit.errors import ConfigurationError
from audit.settings import load_settings


def _development_only(what: str) -> None:
    # The variable first: production settings may not even load on a laptop.
    named = os.environ.get("AUDIT_ENVIRONMENT", "").strip().lower()
    if named == "production" or load_settings().environment == "production":
        raise ConfigurationError(
            f"audit api {what} is a development helper, refused with AUDIT_ENVIRONMENT="
            "production: tokens come from the identity provider there"
        )


def write_keypair(folder: str | Path) -> tuple[Path, Path]:
    """An Ed25519 key pair as jwt-private.pem (mode 600) and jwt-public.pem in ``folder``."""
    _development_only("keypair")
    where = Path(folder)
    where.mkdir(parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    private = where / "jwt-private.pem"
    private.touch(mode=0o600)
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = where / "jwt-public.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def sign_token(
    private_key: str | Path,
    *,
    sub: str,
    roles: Sequence[str],
    orgs: Sequence[str],
    lifetime_seconds: int,
) -> str:
    """A JWT for the configured issuer and audience, signed by ``private_key``."""
    _development_only("token")
    settings = load_settings()
    if not settings.api_jwt_issuer or not settings.api_jwt_audience:
        raise ConfigurationError("set AUDIT_API_JWT_ISSUER and AUDIT_API_JWT_AUDIENCE first")
    key = load_pem_private_key(Path(private_key).read_bytes(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = "EdDSA"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = "ES256"
    elif isinstance(key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    else:
        raise ConfigurationError(f"{private_key}: an Ed25519, EC or RSA private key")
    now = int(time.time())
    claims = {
        "iss": settings.api_jwt_issuer,
        "aud": settings.api_jwt_audience,
        "sub": sub,
        "iat": now,
        "exp": now + lifetime_seconds,
        "roles": list(roles),
        "orgs": list(orgs),
    }
    return jwt.encode(claims, key, algorithm=algorithm)
