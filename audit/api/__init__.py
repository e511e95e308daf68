"""The HTTP API: thin; it parses, authorizes, calls a service, renders, and audits itself."""

from audit.api.app import create_app

__all__ = ["create_app"]
