"""``audit serve``: the HTTP API (uvicorn); ``audit openapi``: print its OpenAPI document;
``audit api keypair`` / ``audit api token``: a development key pair and tokens signed by it
(both refused when ``AUDIT_ENVIRONMENT=production``: tokens there come from the identity
provider)."""

from __future__ import annotations

import argparse
import json
import sys

from audit.settings import load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="serve the HTTP API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(handler=_serve)
    openapi = sub.add_parser("openapi", help="print the API's OpenAPI document (JSON)")
    openapi.set_defaults(handler=_openapi)

    api = sub.add_parser("api", help="development helpers: a key pair and tokens")
    actions = api.add_subparsers(dest="api_action", required=True, metavar="ACTION")
    keypair = actions.add_parser("keypair", help="write an Ed25519 key pair (development only)")
    keypair.add_argument("folder", help="writes jwt-private.pem and jwt-public.pem there")
    keypair.set_defaults(handler=_keypair)
    token = actions.add_parser("token", help="print a signed JWT (development only)")
    token.add_argument("--role", action="append", required=True, help="repeat for several")
    token.add_argument("--org", action="append", required=True, help='an id, or "*"; repeatable')
    token.add_argument("--sub", default="dev@localhost", help="the principal")
    token.add_argument("--private-key", required=True, help="PEM private key (audit api keypair)")
    token.add_argument("--lifetime", type=int, default=3600, help="seconds (default 3600)")
    token.set_defaults(handler=_token)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from audit.api import create_app

    app = create_app(load_settings())
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=False)
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from audit.api.app import openapi_document

    sys.stdout.write(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
    return 0


def _development_only(what: str) -> None:
    import os

    from audit.errors import ConfigurationError

    # The variable first: production settings may not even load on a laptop.
    named = os.environ.get("AUDIT_ENVIRONMENT", "").strip().lower()
    if named == "production" or load_settings().environment == "production":
        raise ConfigurationError(
            f"audit api {what} is a development helper, refused with AUDIT_ENVIRONMENT="
            "production: tokens come from the identity provider there"
        )


def _keypair(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    _development_only("keypair")
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    private = folder / "jwt-private.pem"
    private.touch(mode=0o600)
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "jwt-public.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    print(f"AUDIT_API_JWT_KEY_FILE={folder / 'jwt-public.pem'}")
    print(f"private key (keep it here, never on the API host): {private}")
    return 0


def _token(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from audit.errors import ConfigurationError

    _development_only("token")
    settings = load_settings()
    if not settings.api_jwt_issuer or not settings.api_jwt_audience:
        raise ConfigurationError("set AUDIT_API_JWT_ISSUER and AUDIT_API_JWT_AUDIENCE first")
    key = load_pem_private_key(Path(args.private_key).read_bytes(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = "EdDSA"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = "ES256"
    elif isinstance(key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    else:
        raise ConfigurationError(f"{args.private_key}: an Ed25519, EC or RSA private key")
    now = int(time.time())
    claims = {
        "iss": settings.api_jwt_issuer,
        "aud": settings.api_jwt_audience,
        "sub": args.sub,
        "iat": now,
        "exp": now + args.lifetime,
        "roles": args.role,
        "orgs": args.org,
    }
    print(jwt.encode(claims, key, algorithm=algorithm))
    return 0
