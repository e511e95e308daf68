"""Redaction profiles: which fields an export leaves out, by purpose.

Profiles are data (a name, a description, the dotted paths dropped); a path
drops its whole subtree (``source.geo`` drops every geo field). The
``integrity`` object is never dropped: it is what the bundle is verified by.
A redacted document no longer hashes to its stored hash, so a bundle with
any profile but ``none`` is verified by linkage only (see the bundle).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict


class RedactionProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    drop: tuple[str, ...] = ()

    @property
    def is_identity(self) -> bool:
        return not self.drop


PROFILES: dict[str, RedactionProfile] = {
    profile.name: profile
    for profile in (
        RedactionProfile(name="none", description="every stored field, unchanged"),
        RedactionProfile(
            name="no_network",
            description="without the client's network origin and software",
            drop=("source.ip", "source.geo", "source.as", "user_agent"),
        ),
        RedactionProfile(
            name="no_contact",
            description="without network origin and the actor's name and e-mail",
            drop=(
                "source.ip",
                "source.geo",
                "source.as",
                "user_agent",
                "user.name",
                "user.email",
                "user.target.name",
            ),
        ),
    )
}


def profile(name: str) -> RedactionProfile:
    try:
        return PROFILES[name]
    except KeyError:
        choices = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown redaction profile {name!r}; choose {choices}") from None


def redact(document: Mapping[str, Any], redaction: RedactionProfile) -> dict[str, Any]:
    """A copy of ``document`` without the profile's fields (empty objects dropped)."""
    if redaction.is_identity:
        return dict(document)
    result: dict[str, Any] = _copy(document)
    for path in redaction.drop:
        parts = path.split(".")
        trail: list[dict[str, Any]] = [result]
        node: Any = result
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                break
            trail.append(node)
        else:
            node.pop(parts[-1], None)
            for parent, key in zip(reversed(trail[:-1]), reversed(parts[:-1]), strict=True):
                if parent.get(key) == {}:
                    del parent[key]
    return result


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_copy(child) for child in value]
    return value
