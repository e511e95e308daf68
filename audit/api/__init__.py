"""The HTTP API: thin; it parses, authorizes, calls a service, renders, and audits itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use, not with the package: the composition root
    # (audit.wiring.api) imports modules of this package, and the app imports
    # the composition root; either may be imported first.
    if name == "create_app":
        from audit.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
