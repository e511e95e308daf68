"""Who is calling: a principal with roles and a tenant scope."""

from __future__ import annotations

import re
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
# The one pattern of an organization id wherever it enters (token, API key,
# path, query, body): no "*", "_all", "..", commas or blanks, which a store or
# an index pattern could read as more than one organization.
ORG_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
_ORG_ID = re.compile(ORG_ID_PATTERN)


class ScopeError(ValueError):
    """A tenant scope that names nothing, or an organization id that is not one."""


def valid_org_id(value: str) -> bool:
    return _ORG_ID.fullmatch(value) is not None


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
    """Exactly ``["*"]`` means every organization; otherwise valid organization ids.

    An empty scope, a blank id, ``*`` among other ids or an id outside
    :data:`ORG_ID_PATTERN` raises :class:`ScopeError`: a scope that names
    nothing must never be read as "no filter".
    """
    ids = list(values)
    if ids == [ALL_ORGS]:
        return None
    if not ids:
        raise ScopeError("the tenant scope is empty")
    bad = [v for v in ids if not valid_org_id(v)]
    if bad:
        # The id itself is not echoed: it would land in a 401 answer.
        raise ScopeError(f"{len(bad)} value(s) are not organization ids ({ORG_ID_PATTERN})")
    return frozenset(ids)


def sees_restricted(principal: Principal) -> bool:
    """Events under a data subject's restriction or objection (GDPR Art. 18,
    21) are shown only to legal and privacy."""
    return not principal.roles.isdisjoint({Role.LEGAL, Role.PRIVACY})
