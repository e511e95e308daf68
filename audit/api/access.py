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
DISCLOSURE_STEPS = (
    "verify",
    "review",
    "map",
    "redirect",
    "ndo",
    "notice",
    "produce",
    "preserve",
    "renew",
    "close",
)


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
    # every step of a request: legal; compliance reads and reviews; production needs
    # the two distinct legal approvals above (enforced by the workflow). Recorded as
    # decisions on the request (the route names the step).
    **{
        ("POST", f"/v1/disclosures/{{request_id}}/{step}"): _rule(
            {_L, _C} if step == "review" else {_L}, "disclosure.decide", "disclosure_request"
        )
        for step in DISCLOSURE_STEPS
    },
    # legal holds
    ("POST", "/v1/legal-holds"): _rule({_L}, "legal_hold.create", "legal_hold"),
    ("GET", "/v1/legal-holds"): _rule({_L, _A}, "audit.access", "legal_hold"),
    ("POST", "/v1/legal-holds/{hold_id}/release"): _rule(
        {_L, _A}, "legal_hold.release", "legal_hold"
    ),
    # exports (jobs) and bundle verification. Organization administrators export
    # and download their own organization's trail (the privacy policy promises
    # them they manage their logs and exports, issue 14); their tenant scope keeps
    # them to it. Verifying an uploaded bundle stays with compliance and legal. Listing, like
    # reading one job, is by organization, not by who started the job.
    ("POST", "/v1/exports"): _rule({_C, _L, _A}, "export.create", "export"),
    ("GET", "/v1/exports"): _rule({_C, _L, _A}, "audit.access", "export"),
    ("GET", "/v1/exports/{job_id}"): _rule({_C, _L, _A}, "audit.access", "export"),
    ("GET", "/v1/exports/{job_id}/bundle"): _rule({_C, _L, _A}, "audit.access", "export"),
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

# The web console (audit/ui): a page or form is allowed to the roles of the
# API route whose work it does, and recorded under the same audit action, so
# the API's rows decide for both. Pages with no API twin have rows of their
# own. Kept apart from ROUTES (which lists the API's routes) and consulted
# by rule_for and check_table alike.
_SAME = {
    ("GET", "/ui/incidents"): ("GET", "/v1/incidents"),
    ("GET", "/ui/incidents/rows"): ("GET", "/v1/incidents"),
    ("GET", "/ui/incidents/{incident_id}"): ("GET", "/v1/incidents/{incident_id}"),
    **{
        ("POST", f"/ui/incidents/{{incident_id}}/{step}"): (
            "POST",
            f"/v1/incidents/{{incident_id}}/{step}",
        )
        for step in ("transitions", "assignments", "comments", "checklist/{item_id}/decisions")
    },
    ("GET", "/ui/detections"): ("GET", "/v1/detections"),
    ("GET", "/ui/events"): ("GET", "/v1/events"),
    ("GET", "/ui/timeline"): ("GET", "/v1/events/timeline"),
    ("GET", "/ui/disclosures/{request_id}"): ("GET", "/v1/disclosures/{request_id}"),
    ("POST", "/ui/disclosures/new"): ("POST", "/v1/disclosures"),
    ("POST", "/ui/disclosures/{request_id}/approvals"): (
        "POST",
        "/v1/disclosures/{request_id}/approvals",
    ),
    ("POST", "/ui/disclosures/{request_id}/checklist/{item_id}/decisions"): (
        "POST",
        "/v1/disclosures/{request_id}/checklist/{item_id}/decisions",
    ),
    ("GET", "/ui/holds"): ("GET", "/v1/legal-holds"),
    ("POST", "/ui/holds"): ("POST", "/v1/legal-holds"),
    ("POST", "/ui/holds/{hold_id}/release"): ("POST", "/v1/legal-holds/{hold_id}/release"),
    ("POST", "/ui/exports"): ("POST", "/v1/exports"),
    ("GET", "/ui/exports/{job_id}"): ("GET", "/v1/exports/{job_id}"),
    ("GET", "/ui/exports/{job_id}/progress"): ("GET", "/v1/exports/{job_id}"),
    ("GET", "/ui/exports/{job_id}/bundle"): ("GET", "/v1/exports/{job_id}/bundle"),
    ("POST", "/ui/exports/verify"): ("POST", "/v1/exports/verify"),
    ("GET", "/ui/verify"): ("GET", "/v1/verify"),
    ("POST", "/ui/orgs/{organization_id}/retention"): (
        "PUT",
        "/v1/retention/classes/{organization_id}",
    ),
}
CONSOLE_ROUTES: dict[tuple[str, str], RouteRule] = {ui: ROUTES[api] for ui, api in _SAME.items()}
CONSOLE_ROUTES |= {
    # Signing in and out, the landing redirect: before (or without) a principal.
    ("GET", "/ui"): PUBLIC,
    ("GET", "/ui/sign-in"): PUBLIC,
    ("POST", "/ui/sign-in/dev"): PUBLIC,
    ("GET", "/ui/sign-in/oidc"): PUBLIC,
    ("GET", "/ui/sign-in/callback"): PUBLIC,
    ("POST", "/ui/sign-out"): PUBLIC,
    # Lists the API has no route for (yet): the readers of one request.
    ("GET", "/ui/disclosures"): ROUTES[("GET", "/v1/disclosures/{request_id}")],
    ("GET", "/ui/disclosures/report"): ROUTES[("GET", "/v1/disclosures/{request_id}")],
    ("GET", "/ui/exports"): _rule({_C, _L}, "audit.access", "export"),
    # The intake form: for whoever may record a request (its POST is the API's).
    ("GET", "/ui/disclosures/new"): _rule({_L, _C}, "audit.access", "disclosure_request"),
    # A workflow step of a request, through the API route that serves it
    # (audit/ui/routes/steps.py): that route's own rule is checked as well.
    ("POST", "/ui/disclosures/{request_id}/steps/{step}"): _rule(
        {_L, _C}, "disclosure.decide", "disclosure_request"
    ),
    # An organization's own page: its administrators (and platform admins).
    ("GET", "/ui/orgs/{organization_id}"): _rule({_A}, "audit.access", "organization"),
}

DENY = RouteRule(frozenset())


def rule_for(method: str, path: str) -> RouteRule:
    """The route's rule; a route not in the table is denied to every role."""
    return ROUTES.get((method, path)) or CONSOLE_ROUTES.get((method, path), DENY)


def allowed(rule: RouteRule, roles: Iterable[Role]) -> bool:
    return rule.roles is None or not rule.roles.isdisjoint(roles)


def check_table(routes: Iterable[tuple[str, str]]) -> None:
    """Every served (method, path) has a rule and every rule a route."""
    served = set(routes)
    known = ROUTES.keys() | CONSOLE_ROUTES.keys()
    missing = sorted(served - known)
    stale = sorted(known - served)
    if missing or stale:
        raise ConfigurationError(
            f"route table out of date: no rule for {missing}; rules without route {stale}"
        )
