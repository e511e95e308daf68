"""The rule pack: a positive case and near misses just under each threshold."""

from __future__ import annotations

import pytest

from audit.domain.detection.record import Severity

from .helpers import BERLIN, NEW_YORK, PARIS, at, detect, detect_all, ev, login_failure, pack

EXPECTED = {
    "auth.brute_force": (("organization.id", "user.id"), Severity.MEDIUM),
    "auth.brute_force_success": (("organization.id", "user.id"), Severity.HIGH),
    "auth.password_spraying": (("source.ip",), Severity.HIGH),
    "auth.credential_stuffing": (("organization.id",), Severity.HIGH),
    "auth.mfa_fatigue": (("organization.id", "user.id"), Severity.HIGH),
    "auth.impossible_travel": (("organization.id", "user.id"), Severity.MEDIUM),
    "auth.new_country": (("organization.id", "user.id"), Severity.LOW),
    "credential.revoked_use": (("elastra.token.id|elastra.api_key.id",), Severity.HIGH),
    "session.hijack": (("elastra.session.id",), Severity.HIGH),
    "access.cross_tenant_attempt": (
        ("organization.id", "user.id|elastra.api_key.id|elastra.token.id"),
        Severity.MEDIUM,
    ),
    "access.cross_tenant_success": (
        ("organization.id", "user.id|elastra.api_key.id|elastra.token.id"),
        Severity.CRITICAL,
    ),
    "data.mass_export": (("organization.id", "user.id"), Severity.HIGH),
    "iam.privilege_escalation": (("organization.id", "user.target.id"), Severity.HIGH),
    "iam.admin_mfa_disabled": (("organization.id", "user.id"), Severity.MEDIUM),
    "audit.tampering": (("organization.id",), Severity.HIGH),
    "auth.disabled_account_login": (("organization.id", "user.id"), Severity.MEDIUM),
    "abuse.rate_limit_storm": (("source.ip",), Severity.LOW),
}


def test_pack_has_the_issue_table() -> None:
    from audit.domain.detection.routing import key_field_name

    rules = pack()
    assert set(rules) == set(EXPECTED)
    for rule_id, (group_by, severity) in EXPECTED.items():
        rule = rules[rule_id]
        assert tuple(key_field_name(f) for f in rule.group_by) == group_by, rule_id
        assert rule.severity is severity
        assert rule.description and rule.false_positives and rule.mitre.technique
        assert rule.data_categories


# -- auth.brute_force ----------------------------------------------------------


def test_brute_force_fires_on_ten_failures() -> None:
    events = [login_failure(at(minutes=i * 0.4)) for i in range(10)]
    (found,) = detect("auth.brute_force", events)
    assert found.group_key == {"organization.id": "org_1", "user.id": "usr_1"}
    assert found.event_count == 10
    assert found.first_seen == at() and found.window_start == at()
    assert found.entities["user.id"] == ["usr_1"]
    assert found.severity is Severity.MEDIUM and found.mitre_technique == "T1110.001"


def test_brute_force_near_misses() -> None:
    nine = [login_failure(at(minutes=i * 0.4)) for i in range(9)]
    assert detect("auth.brute_force", nine) == []
    spread = [login_failure(at(seconds=i * 34)) for i in range(10)]  # 306 s > 5 min
    assert detect("auth.brute_force", spread) == []
    other_reason = [login_failure(at(seconds=i), reason="unknown_user") for i in range(10)]
    assert detect("auth.brute_force", other_reason) == []
    two_users = [login_failure(at(seconds=i), user=f"usr_{i % 2}") for i in range(10)]
    assert detect("auth.brute_force", two_users) == []


# -- auth.brute_force_success ------------------------------------------------------


def test_brute_force_success() -> None:
    events = [login_failure(at(minutes=i)) for i in range(5)]
    events.append(ev("user.login", when=at(minutes=9)))
    (found,) = detect("auth.brute_force_success", events)
    assert found.event_count == 6 and found.severity is Severity.HIGH


def test_brute_force_success_near_misses() -> None:
    four = [login_failure(at(minutes=i)) for i in range(4)] + [ev("user.login", when=at(minutes=5))]
    assert detect("auth.brute_force_success", four) == []
    late = [login_failure(at(minutes=i)) for i in range(5)] + [
        ev("user.login", when=at(minutes=10, seconds=1))
    ]
    assert detect("auth.brute_force_success", late) == []
    success_first = [ev("user.login", when=at())] + [
        login_failure(at(minutes=1 + i)) for i in range(5)
    ]
    assert detect("auth.brute_force_success", success_first) == []


# -- auth.password_spraying ----------------------------------------------------------


def _spray(users: int, *, ip: str = "198.51.100.23", repeat_user: bool = False) -> list:
    return [
        login_failure(
            at(seconds=20 * i),
            org=f"org_{i % 3}",
            user="usr_x" if repeat_user else f"usr_{i}",
            source__ip=ip,
        )
        for i in range(users)
    ]


def test_password_spraying_across_organizations() -> None:
    (found,) = detect("auth.password_spraying", _spray(10))
    assert found.group_key == {"source.ip": "198.51.100.23"}
    assert found.organization_ids == ["org_0", "org_1", "org_2"]
    assert len(found.entities["user.id"]) == 10


def test_password_spraying_near_misses() -> None:
    assert detect("auth.password_spraying", _spray(9)) == []
    # the same user id in 3 organizations is 3 accounts, not 10
    assert detect("auth.password_spraying", _spray(10, repeat_user=True)) == []


def test_password_spraying_counts_unknown_user_names() -> None:
    events = [
        login_failure(at(seconds=i), reason="unknown_user", user=None, user__name=f"n{i}@x")
        for i in range(10)
    ]
    for e in events:
        e.document["source"] = {"ip": "203.0.113.9"}
    assert len(detect("auth.password_spraying", events)) == 1


# -- auth.credential_stuffing --------------------------------------------------------


def _stuffing(users: int, ips: int) -> list:
    return [
        login_failure(at(seconds=10 * i), user=f"usr_{i}", source__ip=f"203.0.113.{i % ips}")
        for i in range(users)
    ]


def test_credential_stuffing() -> None:
    (found,) = detect("auth.credential_stuffing", _stuffing(20, 10))
    assert found.group_key == {"organization.id": "org_1"}
    assert len(found.entities["source.ip"]) == 10


def test_credential_stuffing_near_misses() -> None:
    assert detect("auth.credential_stuffing", _stuffing(19, 10)) == []
    assert detect("auth.credential_stuffing", _stuffing(20, 9)) == []


# -- auth.mfa_fatigue ----------------------------------------------------------------


def _push(n: int, method: str = "push") -> list:
    reasons = ["denied", "timeout"]
    return [
        ev(
            "user.mfa.challenge",
            "failure",
            when=at(minutes=i),
            event__reason=reasons[i % 2],
            elastra__mfa__method=method,
        )
        for i in range(n)
    ]


def test_mfa_fatigue() -> None:
    assert len(detect("auth.mfa_fatigue", _push(5))) == 1


def test_mfa_fatigue_near_misses() -> None:
    assert detect("auth.mfa_fatigue", _push(4)) == []
    assert detect("auth.mfa_fatigue", _push(5, method="totp")) == []


# -- auth.impossible_travel ------------------------------------------------------------


def _login_at(when, where, ip="192.0.2.1"):
    return ev("user.login", when=when, source__geo__location=where, source__ip=ip)


def test_impossible_travel() -> None:
    events = [_login_at(at(), PARIS, "192.0.2.1"), _login_at(at(hours=1), NEW_YORK, "192.0.2.2")]
    (found,) = detect("auth.impossible_travel", events)
    assert found.event_count == 2
    assert found.entities["source.ip"] == ["192.0.2.1", "192.0.2.2"]


def test_impossible_travel_near_misses() -> None:
    from audit.domain.detection.evaluators import haversine_km

    km = haversine_km(PARIS["lat"], PARIS["lon"], NEW_YORK["lat"], NEW_YORK["lon"])
    slow = [_login_at(at(), PARIS), _login_at(at(hours=km / 600), NEW_YORK)]  # 600 km/h
    assert detect("auth.impossible_travel", slow) == []
    near = {"lat": 48.8566, "lon": 2.3522 + 6.5}  # about 477 km east of Paris
    assert haversine_km(PARIS["lat"], PARIS["lon"], near["lat"], near["lon"]) < 500
    assert detect("auth.impossible_travel", [_login_at(at(), PARIS), _login_at(at(1), near)]) == []
    fast = [_login_at(at(), PARIS), _login_at(at(minutes=30), BERLIN)]  # 878 km in 30 min
    assert len(detect("auth.impossible_travel", fast)) == 1


# -- auth.new_country ------------------------------------------------------------------


def _history(n: int, span_days: float) -> list:
    step = span_days / (n - 1)
    return [
        ev("user.login", when=at(days=i * step), source__geo__country_iso_code="FR")
        for i in range(n)
    ]


def test_new_country() -> None:
    events = [
        *_history(5, 7),
        ev("user.login", when=at(days=8), source__geo__country_iso_code="BR"),
    ]
    (found,) = detect("auth.new_country", events)
    assert found.event_count == 1 and found.severity is Severity.LOW


def test_new_country_near_misses() -> None:
    newcomer = ev("user.login", when=at(days=8), source__geo__country_iso_code="BR")
    assert detect("auth.new_country", [*_history(4, 7), newcomer]) == []  # 4 logins
    assert detect("auth.new_country", [*_history(5, 6.9), newcomer]) == []  # < 7 days
    known = ev("user.login", when=at(days=8), source__geo__country_iso_code="FR")
    assert detect("auth.new_country", [*_history(5, 7), known]) == []
    # history older than 30 days is forgotten: no established history any more
    stale = ev("user.login", when=at(days=45), source__geo__country_iso_code="BR")
    assert detect("auth.new_country", [*_history(5, 7), stale]) == []


# -- credential.revoked_use ----------------------------------------------------------------


def test_revoked_token_use() -> None:
    events = [
        ev(
            "token.use",
            "failure",
            when=at(minutes=i),
            event__reason="revoked",
            elastra__token__id="tok_9",
            org=f"org_{i}",
        )
        for i in range(3)
    ]
    (found,) = detect("credential.revoked_use", events)
    assert found.group_key == {"elastra.token.id": "tok_9"}
    assert found.entities["elastra.token.id"] == ["tok_9"]


def test_revoked_api_key_use_and_near_miss() -> None:
    events = [
        ev(
            "api_key.use",
            "failure",
            when=at(minutes=i),
            event__reason="revoked",
            elastra__api_key__id="ak_1",
        )
        for i in range(3)
    ]
    (found,) = detect("credential.revoked_use", events)
    assert found.group_key == {"elastra.api_key.id": "ak_1"}
    assert detect("credential.revoked_use", events[:2]) == []
    expired = [
        ev(
            "token.use",
            "failure",
            when=at(minutes=i),
            event__reason="expired",
            elastra__token__id="tok_9",
        )
        for i in range(3)
    ]
    assert detect("credential.revoked_use", expired) == []


# -- session.hijack ----------------------------------------------------------------------


def _in_session(when, country):
    return ev(
        "content.read",
        when=when,
        elastra__session__id="ses_1",
        source__geo__country_iso_code=country,
        category="customer_content",
    )


def test_session_hijack() -> None:
    (found,) = detect(
        "session.hijack", [_in_session(at(), "FR"), _in_session(at(minutes=29), "US")]
    )
    assert found.group_key == {"elastra.session.id": "ses_1"}
    assert found.data_categories == ["customer_content"]


def test_session_hijack_near_misses() -> None:
    assert (
        detect("session.hijack", [_in_session(at(), "FR"), _in_session(at(minutes=31), "US")]) == []
    )
    assert (
        detect("session.hijack", [_in_session(at(), "FR"), _in_session(at(minutes=1), "FR")]) == []
    )


# -- cross tenant ----------------------------------------------------------------------


def test_cross_tenant_attempt() -> None:
    event = ev(
        "resource.access",
        "failure",
        event__reason="cross_tenant",
        elastra__resource__organization_id="org_victim",
        category="customer_content",
    )
    (found,) = detect("access.cross_tenant_attempt", [event])
    assert found.affected_organization_ids == ["org_victim"]
    assert found.organization_ids == ["org_1"]
    forbidden = ev(
        "resource.access",
        "failure",
        event__reason="forbidden",
        elastra__resource__organization_id="org_victim",
    )
    assert detect("access.cross_tenant_attempt", [forbidden]) == []


def test_cross_tenant_success() -> None:
    event = ev(
        "content.read", elastra__resource__organization_id="org_2", category="customer_content"
    )
    (found,) = detect("access.cross_tenant_success", [event])
    assert found.severity is Severity.CRITICAL
    assert found.affected_organization_ids == ["org_2"]
    own = ev("content.read", elastra__resource__organization_id="org_1")
    failed = ev("content.read", "failure", elastra__resource__organization_id="org_2")
    assert detect("access.cross_tenant_success", [own, failed]) == []


def test_cross_tenant_success_by_api_key() -> None:
    event = ev(
        "content.read",
        user=None,
        elastra__api_key__id="ak_7",
        elastra__resource__organization_id="org_2",
    )
    (found,) = detect("access.cross_tenant_success", [event])
    assert found.group_key == {"organization.id": "org_1", "elastra.api_key.id": "ak_7"}


# -- data.mass_export ----------------------------------------------------------------------


def _export(when, records, action="content.export"):
    return ev(action, when=when, elastra__records=records, category="customer_content")


def test_mass_export() -> None:
    events = [_export(at(), 60_000), _export(at(minutes=59), 40_000, "logs.export")]
    (found,) = detect("data.mass_export", events)
    assert found.event_count == 2


def test_mass_export_near_misses() -> None:
    assert detect("data.mass_export", [_export(at(), 50_000), _export(at(minutes=5), 40_000)]) == []
    apart = [_export(at(), 60_000), _export(at(minutes=60, seconds=1), 40_000)]
    assert detect("data.mass_export", apart) == []


# -- iam.privilege_escalation ----------------------------------------------------------------


def _grant(when, role="admin"):
    return ev(
        "role.grant",
        when=when,
        user="usr_boss",
        user__target__id="usr_2",
        elastra__role=role,
        category="account",
    )


def test_privilege_escalation() -> None:
    events = [_grant(at()), ev("api_key.create", when=at(minutes=30), user="usr_2")]
    (found,) = detect("iam.privilege_escalation", events)
    assert found.group_key == {"organization.id": "org_1", "user.target.id": "usr_2"}
    assert found.entities["user.id"] == ["usr_2", "usr_boss"]
    assert found.entities["user.target.id"] == ["usr_2"]


def test_privilege_escalation_near_misses() -> None:
    later = [_grant(at()), ev("api_key.create", when=at(hours=2), user="usr_2")]
    assert detect("iam.privilege_escalation", later) == []
    viewer = [_grant(at(), role="viewer"), ev("mfa.disable", when=at(minutes=1), user="usr_2")]
    assert detect("iam.privilege_escalation", viewer) == []
    other = [_grant(at()), ev("mfa.disable", when=at(minutes=1), user="usr_3")]
    assert detect("iam.privilege_escalation", other) == []
    before = [ev("mfa.disable", when=at(), user="usr_2"), _grant(at(minutes=1))]
    assert detect("iam.privilege_escalation", before) == []


# -- iam.admin_mfa_disabled, audit.tampering ----------------------------------------------


def test_admin_mfa_disabled() -> None:
    admin = ev("mfa.disable", user__roles=["member", "admin"], user__target__id="usr_5")
    assert len(detect("iam.admin_mfa_disabled", [admin])) == 1
    member = ev("mfa.disable", user__roles=["member"])
    assert detect("iam.admin_mfa_disabled", [member]) == []


def test_audit_tampering() -> None:
    settings = ev("audit.settings.change", when=at())
    shorter = ev(
        "org.retention.change",
        when=at(hours=2),
        elastra__retention={"class": "audit", "days_before": 365, "days_after": 30},
    )
    assert len(detect("audit.tampering", [settings])) == 1
    assert len(detect("audit.tampering", [shorter])) == 1
    longer = ev(
        "org.retention.change",
        elastra__retention={"class": "audit", "days_before": 30, "days_after": 365},
    )
    failed = ev("audit.settings.change", "failure")
    assert detect("audit.tampering", [longer, failed]) == []


# -- auth.disabled_account_login, abuse.rate_limit_storm ---------------------------------------


def test_disabled_account_login() -> None:
    events = [login_failure(at(minutes=i), reason="disabled") for i in range(3)]
    assert len(detect("auth.disabled_account_login", events)) == 1
    assert detect("auth.disabled_account_login", events[:2]) == []


@pytest.mark.parametrize(("count", "expected"), [(100, 1), (99, 0)])
def test_rate_limit_storm(count: int, expected: int) -> None:
    events = [
        ev(
            "rate_limit.exceeded",
            "failure",
            when=at(seconds=2.9 * i),
            user=None,
            source__ip="203.0.113.66",
        )
        for i in range(count)
    ]
    assert len(detect("abuse.rate_limit_storm", events)) == expected


def test_benign_traffic_raises_nothing() -> None:
    events = []
    for i in range(200):
        user = f"usr_{i % 20}"
        events.append(
            ev(
                "user.login",
                when=at(minutes=i),
                user=user,
                source__ip="192.0.2.10",
                source__geo__country_iso_code="FR",
                source__geo__location=PARIS,
                elastra__session__id=f"ses_{user}",
            )
        )
        events.append(
            ev(
                "content.read",
                when=at(minutes=i, seconds=5),
                user=user,
                elastra__resource__organization_id="org_1",
                elastra__session__id=f"ses_{user}",
                source__geo__country_iso_code="FR",
                category="customer_content",
            )
        )
    assert detect_all(events) == []
