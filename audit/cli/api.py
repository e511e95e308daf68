"""``audit serve``: the HTTP API (uvicorn); ``audit openapi``: print its OpenAPI document."""

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
