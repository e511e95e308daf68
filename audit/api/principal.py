"""Who is calling: a principal with roles and a tenant scope."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    ONCALL = "oncall"
    COMPLIANCE = "compliance"
    LEGAL = "legal"
    ADMIN = "admin"
    AUDITOR = "auditor"  # read-only
    PRIVACY = "privacy"  # data-subject requests; sees restricted events


ALL_ORGS = "*"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``organizations`` is the tenant scope: the organization ids whose data the
    caller may see, or None for platform staff (``*``).
    """

    id: str
    roles: frozenset[Role]
    organizations: frozenset[str] | None
    kind: Literal["jwt", "api_key"]

    @property
    def platform(self) -> bool:
        return self.organizations is None

    def sees(self, organization_id: str) -> bool:
        return self.organizations is None or organization_id in self.organizations

    def sees_all(self, organization_ids: Iterable[str]) -> bool:
        return self.organizations is None or self.organizations.issuperset(organization_ids)

    def sees_any(self, organization_ids: Iterable[str]) -> bool:
        return self.organizations is None or not self.organizations.isdisjoint(organization_ids)

    @property
    def scope_list(self) -> list[str]:
        """The scope as written in an audit event: sorted ids, or ``["*"]``."""
        return [ALL_ORGS] if self.organizations is None else sorted(self.organizations)


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """Known roles only; an unknown role name grants nothing."""
    known = {r.value for r in Role}
    return frozenset(Role(v) for v in values if v in known)


def parse_scope(values: Iterable[str]) -> frozenset[str] | None:
    """``*`` (alone or among others) means every organization."""
    ids = [v.strip() for v in values if v.strip()]
    if ALL_ORGS in ids:
        return None
    return frozenset(ids)


def sees_restricted(principal: Principal) -> bool:
    """Events under a data subject's restriction or objection (GDPR Art. 18,
    21) are shown only to legal and privacy."""
    return not principal.roles.isdisjoint({Role.LEGAL, Role.PRIVACY})
