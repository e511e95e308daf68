"""Authorization: ONE table mapping each route to the roles allowed on it.

Deny by default: a route missing from the table answers 403 to everyone,
and :func:`check_table` (called by ``create_app``) refuses to build an app
whose routes and table disagree. Each entry also names the audit action the
request is recorded under (None: the route reads no audit data).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from audit.api.principal import Role
from audit.errors import ConfigurationError

_O, _C, _L, _A, _R = Role.ONCALL, Role.COMPLIANCE, Role.LEGAL, Role.ADMIN, Role.AUDITOR
_P = Role.PRIVACY
READERS = frozenset({_O, _C, _L, _A, _R})


@dataclass(frozen=True)
class RouteRule:
    roles: frozenset[Role] | None  # None: public (no credentials needed)
    action: str | None = None  # the audit event recorded for the request
    resource: str = ""  # elastra.resource.type of that event

    @property
    def public(self) -> bool:
        return self.roles is None


PUBLIC = RouteRule(None)


def _rule(roles: Iterable[Role], action: str, resource: str) -> RouteRule:
    return RouteRule(frozenset(roles), action, resource)


ROUTES: dict[tuple[str, str], RouteRule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # events
    ("GET", "/v1/events"): _rule(READERS, "audit.access", "audit_events"),
    ("GET", "/v1/events/timeline"): _rule(READERS, "audit.access", "audit_events"),
    ("GET", "/v1/events/top"): _rule(READERS, "audit.access", "audit_events"),
    # detections
    ("GET", "/v1/detections"): _rule({_O, _C, _A, _R}, "audit.access", "detection"),
    ("GET", "/v1/detections/{detection_id}"): _rule({_O, _C, _A, _R}, "audit.access", "detection"),
    # incidents
    ("GET", "/v1/incidents"): _rule(READERS, "audit.access", "incident"),
    ("GET", "/v1/incidents/{incident_id}"): _rule(READERS, "audit.access", "incident"),
    ("POST", "/v1/incidents/{incident_id}/transitions"): _rule(
        {_O, _A}, "incident.transition", "incident"
    ),
    # No extension action names an assignment or a comment: recorded as access.
    ("POST", "/v1/incidents/{incident_id}/assignments"): _rule(
        {_O, _A}, "audit.access", "incident"
    ),
    ("POST", "/v1/incidents/{incident_id}/comments"): _rule(
        {_O, _C, _L, _A}, "audit.access", "incident"
    ),
    ("POST", "/v1/incidents/{incident_id}/checklist/{item_id}/decisions"): _rule(
        {_C, _L, _A}, "checklist.decide", "incident"
    ),
    # lawful disclosure requests
    ("POST", "/v1/disclosures"): _rule({_L, _C}, "disclosure.create", "disclosure_request"),
    ("GET", "/v1/disclosures/{request_id}"): _rule(
        {_L, _C, _A, _R}, "audit.access", "disclosure_request"
    ),
    ("POST", "/v1/disclosures/{request_id}/checklist/{item_id}/decisions"): _rule(
        {_L, _C}, "disclosure.decide", "disclosure_request"
    ),
    ("POST", "/v1/disclosures/{request_id}/approvals"): _rule(
        {_L}, "disclosure.approve", "disclosure_request"
    ),
    # legal holds
    ("POST", "/v1/legal-holds"): _rule({_L}, "legal_hold.create", "legal_hold"),
    ("GET", "/v1/legal-holds"): _rule({_L, _A}, "audit.access", "legal_hold"),
    ("POST", "/v1/legal-holds/{hold_id}/release"): _rule(
        {_L, _A}, "legal_hold.release", "legal_hold"
    ),
    # exports (jobs) and bundle verification
    ("POST", "/v1/exports"): _rule({_C, _L}, "export.create", "export"),
    ("GET", "/v1/exports/{job_id}"): _rule({_C, _L}, "audit.access", "export"),
    ("GET", "/v1/exports/{job_id}/bundle"): _rule({_C, _L}, "audit.access", "export"),
    ("POST", "/v1/exports/verify"): _rule({_C, _L}, "audit.access", "export_bundle"),
    # retention
    ("GET", "/v1/retention/plan"): _rule({_C, _A, _R}, "audit.access", "retention_plan"),
    ("PUT", "/v1/retention/classes/{organization_id}"): _rule(
        {_A}, "retention.class.change", "organization"
    ),
    # trail verification
    ("GET", "/v1/verify"): _rule({_C, _R, _A}, "audit.access", "audit_trail"),
    ("GET", "/v1/verify/{job_id}"): _rule({_C, _R, _A}, "audit.access", "audit_trail"),
    # data-subject requests (docs/privacy.md)
    ("POST", "/v1/dsr"): _rule({_P, _L}, "dsr.create", "data_subject_request"),
    ("GET", "/v1/dsr"): _rule({_P, _L}, "audit.access", "data_subject_request"),
    ("GET", "/v1/dsr/{request_id}"): _rule({_P, _L}, "audit.access", "data_subject_request"),
    ("POST", "/v1/dsr/{request_id}/decision"): _rule(
        {_P, _L}, "dsr.decide", "data_subject_request"
    ),
    ("POST", "/v1/dsr/{request_id}/extension"): _rule(
        {_P, _L}, "dsr.change", "data_subject_request"
    ),
    ("POST", "/v1/dsr/{request_id}/execution"): _rule(
        {_P, _L}, "dsr.execute", "data_subject_request"
    ),
    ("POST", "/v1/dsr/{request_id}/lift"): _rule({_P, _L}, "dsr.change", "data_subject_request"),
}

DENY = RouteRule(frozenset())


def rule_for(method: str, path: str) -> RouteRule:
    """The route's rule; a route not in the table is denied to every role."""
    return ROUTES.get((method, path), DENY)


def allowed(rule: RouteRule, roles: Iterable[Role]) -> bool:
    return rule.roles is None or not rule.roles.isdisjoint(roles)


def check_table(routes: Iterable[tuple[str, str]]) -> None:
    """Every served (method, path) has a rule and every rule a route."""
    served = set(routes)
    missing = sorted(served - ROUTES.keys())
    stale = sorted(ROUTES.keys() - served)
    if missing or stale:
        raise ConfigurationError(
            f"route table out of date: no rule for {missing}; rules without route {stale}"
        )
