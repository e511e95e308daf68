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


def _keypair(args: argparse.Namespace) -> int:
    from audit.api.dev_tokens import write_keypair

    private, public = write_keypair(args.folder)
    print(f"AUDIT_API_JWT_KEY_FILE={public}")
    print(f"private key (keep it here, never on the API host): {private}")
    return 0


def _token(args: argparse.Namespace) -> int:
    from audit.api.dev_tokens import sign_token

    print(
        sign_token(
            args.private_key,
            sub=args.sub,
            roles=args.role,
            orgs=args.org,
            lifetime_seconds=args.lifetime,
        )
    )
    return 0
