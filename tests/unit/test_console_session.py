"""Console sessions: signed, with idle and absolute timeouts; the console's route rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from audit.api.access import CONSOLE_ROUTES, ROUTES, rule_for
from audit.api.principal import Role
from audit.ui.session import SessionCodec

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def codec(secret: bytes = b"k" * 32) -> SessionCodec:
    return SessionCodec(secret, idle_seconds=1800, max_seconds=43_200)


def test_a_session_round_trips_and_carries_its_principal() -> None:
    c = codec()
    session = c.new("dev:sam", ["oncall"], ["org_a", "org_b"], "dev", T0)
    back = c.load(c.dump(session), T0 + timedelta(minutes=5))
    assert back == session
    assert back is not None
    principal = back.principal
    assert principal.id == "dev:sam" and principal.roles == {Role.ONCALL}
    assert principal.organizations == {"org_a", "org_b"}
    assert back.csrf_ok(session.csrf) and not back.csrf_ok("") and not back.csrf_ok("x")


def test_a_changed_or_foreign_cookie_is_no_session() -> None:
    c = codec()
    value = c.dump(c.new("dev:sam", ["oncall"], ["org_a"], "dev", T0))
    assert c.load(value[:-2] + "xx", T0) is None
    assert codec(b"other" * 8).load(value, T0) is None
    assert c.load("", T0) is None and c.load(None, T0) is None


def test_idle_and_absolute_timeouts() -> None:
    c = codec()
    session = c.new("dev:sam", ["oncall"], ["*"], "dev", T0)
    assert c.load(c.dump(session), T0 + timedelta(seconds=1799)) is not None
    assert c.load(c.dump(session), T0 + timedelta(seconds=1801)) is None  # idle
    # Kept busy, it still ends after the absolute limit.
    at = T0
    while at < T0 + timedelta(hours=11, minutes=50):
        at += timedelta(minutes=20)
        loaded = c.load(c.dump(session), at)
        assert loaded is not None, at
        session = c.touched(loaded, at)
    assert c.load(c.dump(session), T0 + timedelta(hours=12, seconds=1)) is None


def test_console_pages_take_the_api_rows_they_do_the_work_of() -> None:
    assert rule_for("GET", "/ui/incidents") is ROUTES[("GET", "/v1/incidents")]
    decide = ("POST", "/ui/incidents/{incident_id}/checklist/{item_id}/decisions")
    assert CONSOLE_ROUTES[decide].action == "checklist.decide"
    retention = rule_for("POST", "/ui/orgs/{organization_id}/retention")
    assert retention is ROUTES[("PUT", "/v1/retention/classes/{organization_id}")]
    for (method, path), rule in CONSOLE_ROUTES.items():
        assert path.startswith("/ui")
        if method == "POST" and rule.roles is not None:
            assert Role.AUDITOR not in rule.roles, path  # the auditor only reads
    assert rule_for("GET", "/ui/not-a-page").roles == frozenset()  # deny by default
