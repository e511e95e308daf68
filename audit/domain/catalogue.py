"""The action catalogue of the event contract, as data.

Each known ``event.action`` maps to its ECS categorisation (``event.category``
and ``event.type``, filled in by normalization when the producer leaves them
out), the failure reasons the contract names for it (``event.reason`` on a
``failure`` outcome) and the data category of the privacy policy that the
event belongs to (``elastra.data_category``).

Data categories
===============

``elastra.data_category`` drives retention and the disclosure checklists. It
is decided in this order:

1. ``elastra.resource.type`` in :data:`CUSTOMER_CONTENT_RESOURCE_TYPES`
   (prompt, policy, rule, command, log, repository_metadata, memory_entry,
   synced_reference, generated_output) -> ``customer_content``, whatever the
   action (a cross-tenant ``resource.access`` to a memory entry concerns
   customer content: the platform is the organization's processor there).
2. The action's entry in the catalogue:

   =========================================  ===========================
   actions                                    data category
   =========================================  ===========================
   user.login, user.logout,                   authentication_security
   user.mfa.challenge, user.password.reset,
   sso.login, sso.config.change,
   session.*, token.*, api_key.*,
   mfa.enroll, mfa.disable,
   resource.access (cross-tenant signals),
   rate_limit.exceeded, waf.block,
   abuse.report, audit.settings.change
   user.create, user.disable, user.enable,    account
   user.delete, role.grant, role.revoke
   org.member.invite, org.member.remove,      organization_billing
   org.settings.change,
   org.integration.add/remove,
   org.retention.change
   content.read/write/delete/export,          customer_content
   logs.export, repository.sync
   the service's own extension actions        authentication_security
   (docs/contract-extensions.md)
   =========================================  ===========================

   Password resets, SSO configuration and MFA enrolment are credentials and
   authentication settings, hence authentication_security rather than
   account; content and log actions move customer content even when the
   producer omits ``elastra.resource.type``.
3. An action outside the catalogue (accepted for forward compatibility) by
   its first segment: ``billing.*`` and ``org.*`` -> organization_billing,
   ``profile.*`` -> account, ``support.*`` -> support, ``telemetry.*`` ->
   telemetry.
4. Otherwise :data:`DEFAULT_DATA_CATEGORY`, ``authentication_security``: an
   unknown action in an audit stream is most likely a new security signal,
   and that category has the longest retention, so nothing is lost early.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class DataCategory(StrEnum):
    """The data categories of the platform's privacy policy."""

    ACCOUNT = "account"
    ORGANIZATION_BILLING = "organization_billing"
    AUTHENTICATION_SECURITY = "authentication_security"
    SUPPORT = "support"
    TELEMETRY = "telemetry"
    CUSTOMER_CONTENT = "customer_content"


DEFAULT_DATA_CATEGORY = DataCategory.AUTHENTICATION_SECURITY

CUSTOMER_CONTENT_RESOURCE_TYPES: frozenset[str] = frozenset(
    {
        "prompt",
        "policy",
        "rule",
        "command",
        "log",
        "repository_metadata",
        "memory_entry",
        "synced_reference",
        "generated_output",
    }
)


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """What the contract says about one ``event.action``."""

    action: str
    categories: tuple[str, ...]
    types: tuple[str, ...]
    data_category: DataCategory
    failure_reasons: frozenset[str] = frozenset()
    # True for the service's own actions (docs/contract-extensions.md).
    extension: bool = False


_A = DataCategory.ACCOUNT
_O = DataCategory.ORGANIZATION_BILLING
_S = DataCategory.AUTHENTICATION_SECURITY
_C = DataCategory.CUSTOMER_CONTENT

# action, category, type, data category, failure reasons
_CONTRACT: tuple[tuple[str, str, str, DataCategory, tuple[str, ...]], ...] = (
    (
        "user.login",
        "authentication",
        "start",
        _S,
        (
            "bad_password",
            "unknown_user",
            "locked",
            "disabled",
            "mfa_required",
            "expired_password",
            "sso_required",
        ),
    ),
    ("user.logout", "authentication", "end", _S, ()),
    ("user.mfa.challenge", "authentication", "info", _S, ("denied", "timeout", "bad_code")),
    ("user.password.reset", "iam", "change", _S, ()),
    ("sso.login", "authentication", "start", _S, ()),
    ("session.create", "session", "start", _S, ()),
    ("session.revoke", "session", "end", _S, ()),
    ("token.issue", "authentication", "creation", _S, ()),
    ("token.refresh", "authentication", "change", _S, ()),
    ("token.revoke", "authentication", "deletion", _S, ()),
    ("token.use", "authentication", "access", _S, ("revoked", "expired", "invalid")),
    ("api_key.create", "iam", "creation", _S, ()),
    ("api_key.revoke", "iam", "deletion", _S, ()),
    ("api_key.use", "authentication", "access", _S, ("revoked", "invalid")),
    ("user.create", "iam", "creation", _A, ()),
    ("user.disable", "iam", "change", _A, ()),
    ("user.enable", "iam", "change", _A, ()),
    ("user.delete", "iam", "deletion", _A, ()),
    ("role.grant", "iam", "change", _A, ()),
    ("role.revoke", "iam", "change", _A, ()),
    ("org.member.invite", "iam", "creation", _O, ()),
    ("org.member.remove", "iam", "deletion", _O, ()),
    ("mfa.enroll", "iam", "change", _S, ()),
    ("mfa.disable", "iam", "change", _S, ()),
    ("sso.config.change", "configuration", "change", _S, ()),
    ("org.settings.change", "configuration", "change", _O, ()),
    ("org.integration.add", "configuration", "creation", _O, ()),
    ("org.integration.remove", "configuration", "deletion", _O, ()),
    ("org.retention.change", "configuration", "change", _O, ()),
    ("audit.settings.change", "configuration", "change", _S, ()),
    ("content.read", "api", "access", _C, ()),
    ("content.write", "api", "change", _C, ()),
    ("content.delete", "api", "deletion", _C, ()),
    ("content.export", "api", "access", _C, ()),
    ("logs.export", "api", "access", _C, ()),
    ("repository.sync", "api", "change", _C, ()),
    ("resource.access", "api", "access", _S, ("cross_tenant", "forbidden", "not_found")),
    ("rate_limit.exceeded", "intrusion_detection", "denied", _S, ()),
    ("waf.block", "intrusion_detection", "denied", _S, ()),
    ("abuse.report", "intrusion_detection", "info", _S, ()),
)

# The service's own actions, recorded about its HTTP API and operators.
_EXTENSIONS: tuple[tuple[str, str, str], ...] = (
    ("audit.access", "api", "access"),
    ("legal_hold.create", "configuration", "creation"),
    ("legal_hold.release", "configuration", "deletion"),
    ("export.create", "api", "creation"),
    ("disclosure.create", "api", "creation"),
    ("disclosure.decide", "api", "change"),
    ("disclosure.approve", "api", "change"),
    ("incident.transition", "api", "change"),
    ("checklist.decide", "api", "change"),
    ("retention.class.change", "configuration", "change"),
    # data-subject requests (docs/privacy.md)
    ("dsr.create", "api", "creation"),
    ("dsr.decide", "api", "change"),
    ("dsr.change", "api", "change"),  # period extended, restriction lifted
    ("dsr.execute", "api", "change"),
)


def _build() -> Mapping[str, ActionSpec]:
    specs: dict[str, ActionSpec] = {}
    for action, category, type_, data_category, reasons in _CONTRACT:
        specs[action] = ActionSpec(action, (category,), (type_,), data_category, frozenset(reasons))
    for action, category, type_ in _EXTENSIONS:
        specs[action] = ActionSpec(action, (category,), (type_,), _S, extension=True)
    return MappingProxyType(specs)


CATALOGUE: Mapping[str, ActionSpec] = _build()
"""Every known action, contract and extension, by ``event.action``."""

EXTENSION_ACTIONS: frozenset[str] = frozenset(a for a, _, _ in _EXTENSIONS)

_PREFIX_CATEGORIES: Mapping[str, DataCategory] = MappingProxyType(
    {
        "billing": DataCategory.ORGANIZATION_BILLING,
        "org": DataCategory.ORGANIZATION_BILLING,
        "profile": DataCategory.ACCOUNT,
        "support": DataCategory.SUPPORT,
        "telemetry": DataCategory.TELEMETRY,
    }
)


def lookup(action: str) -> ActionSpec | None:
    """The catalogue entry of ``action``, or None for an action outside it."""
    return CATALOGUE.get(action)


def is_known_action(action: str) -> bool:
    return action in CATALOGUE


def data_category_for(action: str, resource_type: str | None = None) -> DataCategory:
    """The data category of an event, by the rules of the module docstring."""
    if resource_type in CUSTOMER_CONTENT_RESOURCE_TYPES:
        return DataCategory.CUSTOMER_CONTENT
    spec = CATALOGUE.get(action)
    if spec is not None:
        return spec.data_category
    return _PREFIX_CATEGORIES.get(action.partition(".")[0], DEFAULT_DATA_CATEGORY)
