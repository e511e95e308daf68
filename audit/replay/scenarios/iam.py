"""Scenarios of IAM and audit settings: privilege escalation, admin MFA
disabled, audit tampering."""

from __future__ import annotations

from datetime import timedelta

from audit.replay.scenarios.base import LYON, PARIS, Actor, _Builder, _scenario, _user_key

# ---------------------------------------------------------------------------
# IAM and audit settings


def _grant_then_act(b: _Builder, after: timedelta) -> Actor:
    org = b.org()
    owner = b.actor(org, ("owner",))
    promoted = b.actor(org)
    office = b.client(PARIS)
    b.emit(
        "role.grant", b.at(), actor=owner, client=office, target=promoted, elastra={"role": "admin"}
    )
    admin = Actor(promoted.org, promoted.org_name, promoted.id, promoted.email, ("admin",))
    laptop = b.client(LYON)
    when = b.start + after
    b.emit(
        "api_key.create",
        when,
        actor=admin,
        client=laptop,
        elastra={"api_key": {"id": b.credential("key")}},
    )
    b.emit(
        "sso.config.change",
        when + timedelta(minutes=4),
        actor=admin,
        client=laptop,
        elastra={"sso": {"protocol": "saml", "idp": "https://idp.example.net/saml"}},
    )
    return promoted


@_scenario(
    "privilege_escalation",
    ["iam.privilege_escalation"],
    "The owner grants admin to a member, who creates an API key 20 minutes later and then"
    " changes the SSO configuration.",
)
def _privilege_escalation(b: _Builder) -> None:
    promoted = _grant_then_act(b, timedelta(minutes=20))
    b.expect(
        "iam.privilege_escalation", {"organization.id": promoted.org, "user.target.id": promoted.id}
    )


@_scenario(
    "privilege_escalation_near_miss",
    ["iam.privilege_escalation"],
    "The same grant, followed by the same actions only after 2 hours.",
    near_miss=True,
)
def _privilege_escalation_near(b: _Builder) -> None:
    _grant_then_act(b, timedelta(hours=2))
    b.expect("iam.privilege_escalation")


@_scenario(
    "admin_mfa_disabled",
    ["iam.admin_mfa_disabled"],
    "An administrator disables the MFA of another user.",
)
def _admin_mfa_disabled(b: _Builder) -> None:
    org = b.org()
    admin = b.actor(org, ("member", "admin"))
    user = b.actor(org)
    b.emit(
        "mfa.disable",
        b.at(),
        actor=admin,
        client=b.client(PARIS),
        target=user,
        elastra={"mfa": {"method": "totp"}},
    )
    b.expect("iam.admin_mfa_disabled", _user_key(admin))


@_scenario(
    "admin_mfa_disabled_near_miss",
    ["iam.admin_mfa_disabled"],
    "A member disables their own MFA; an administrator's attempt fails.",
    near_miss=True,
)
def _admin_mfa_disabled_near(b: _Builder) -> None:
    org = b.org()
    member = b.actor(org)
    admin = b.actor(org, ("admin",))
    office = b.client(PARIS)
    b.emit(
        "mfa.disable",
        b.at(),
        actor=member,
        client=office,
        target=member,
        elastra={"mfa": {"method": "sms"}},
    )
    b.emit(
        "mfa.disable",
        b.at(minutes=3),
        outcome="failure",
        actor=admin,
        client=office,
        target=member,
        reason="forbidden",
        elastra={"mfa": {"method": "totp"}},
    )
    b.expect("iam.admin_mfa_disabled")


@_scenario(
    "audit_settings_change",
    ["audit.tampering"],
    "The owner changes the audit logging settings.",
)
def _audit_settings(b: _Builder) -> None:
    org = b.org()
    owner = b.actor(org, ("owner",))
    b.emit("audit.settings.change", b.at(), actor=owner, client=b.client(PARIS))
    b.expect("audit.tampering", {"organization.id": org[0]})


@_scenario(
    "retention_shortened",
    ["audit.tampering"],
    "The retention of the audit data class cut from 365 to 30 days.",
)
def _retention_shortened(b: _Builder) -> None:
    org = b.org()
    admin = b.actor(org, ("admin",))
    b.emit(
        "org.retention.change",
        b.at(),
        actor=admin,
        client=b.client(PARIS),
        elastra={"retention": {"class": "audit", "days_before": 365, "days_after": 30}},
    )
    b.expect("audit.tampering", {"organization.id": org[0]})


@_scenario(
    "audit_tampering_near_miss",
    ["audit.tampering"],
    "Retention lengthened from 90 to 365 days; an audit settings change that fails.",
    near_miss=True,
)
def _audit_tampering_near(b: _Builder) -> None:
    org = b.org()
    owner = b.actor(org, ("owner",))
    member = b.actor(org)
    office = b.client(PARIS)
    b.emit(
        "org.retention.change",
        b.at(),
        actor=owner,
        client=office,
        elastra={"retention": {"class": "audit", "days_before": 90, "days_after": 365}},
    )
    b.emit(
        "audit.settings.change",
        b.at(minutes=2),
        outcome="failure",
        actor=member,
        client=office,
        reason="forbidden",
    )
    b.expect("audit.tampering")
