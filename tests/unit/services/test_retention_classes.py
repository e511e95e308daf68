"""Organizations' retention class: cached per TTL, stale served through an outage,
changes validated, stored with history and retried on conflict."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from audit.adapters.bundled_data import load_retention_policy
from audit.domain.event import NormalizedEvent
from audit.domain.retention import RetentionPolicy
from audit.errors import ConflictError, StoreUnavailable
from audit.services.retention_classes import (
    DailyIndexes,
    RetentionClassRefused,
    RetentionClassResolver,
)
from tests.fakes.retention import FakeOrgSettingsStore

AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> RetentionPolicy:
    return load_retention_policy()


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_choice_is_read_once_per_ttl_and_applies_to_overridable_categories(
    policy: RetentionPolicy,
) -> None:
    store, ticks = FakeOrgSettingsStore(), Ticks()
    resolver = RetentionClassResolver(store, policy, ttl_seconds=60, clock=ticks)
    assert resolver.class_for("org_a", "authentication_security") == "standard"
    resolver.set_org_class("org_a", "extended", "admin", "contract", AT)
    assert resolver.class_for("org_a", "authentication_security") == "extended"
    assert resolver.class_for("org_a", "organization_billing") == "extended"  # its default
    assert resolver.class_for("org_a", "account") == "extended"
    assert resolver.reads == 2  # one before the change, one after it dropped the cache

    other = RetentionClassResolver(store, policy, ttl_seconds=60, clock=ticks)
    other.class_for("org_a", "account")
    # Another process changes it back: this one sees it after its TTL only.
    resolver.set_org_class("org_a", "standard", "admin", "back", AT)
    assert other.class_for("org_a", "account") == "extended"
    ticks.now = 61
    assert other.class_for("org_a", "account") == "standard"


def test_an_outage_serves_the_known_class_a_while_and_fails_without_one(
    policy: RetentionPolicy,
) -> None:
    store, ticks = FakeOrgSettingsStore(), Ticks()
    resolver = RetentionClassResolver(store, policy, ttl_seconds=60, clock=ticks)
    resolver.set_org_class("org_a", "extended", "admin", "contract", AT)
    assert resolver.class_for("org_a", "account") == "extended"
    ticks.now = 61
    store.docs.outages.down_forever = True
    assert resolver.class_for("org_a", "account") == "extended"
    with pytest.raises(StoreUnavailable):
        resolver.class_for("org_b", "account")


def test_changes_are_validated_and_shortening_is_flagged(policy: RetentionPolicy) -> None:
    store = FakeOrgSettingsStore()
    resolver = RetentionClassResolver(store, policy)
    with pytest.raises(RetentionClassRefused, match="standard, extended"):
        resolver.set_org_class("org_a", "forever", "admin", "why", AT)
    with pytest.raises(RetentionClassRefused):
        resolver.set_org_class("org_a", "extended", " ", "why", AT)
    first = resolver.set_org_class("org_a", "extended", "admin", "longer", AT)
    second = resolver.set_org_class("org_a", "standard", "admin", "shorter", AT)
    assert (first.before, first.shortening) == (None, False)
    assert (second.before, second.shortening) == ("extended", True)
    source, _ = store.docs.get("org_a")
    assert [h["reason"] for h in source["history"]] == ["longer", "shorter"]


def test_a_concurrent_change_is_kept_in_the_history_and_endless_ones_give_up(
    policy: RetentionPolicy,
) -> None:
    store = FakeOrgSettingsStore()
    resolver = RetentionClassResolver(store, policy)
    resolver.set_org_class("org_a", "extended", "admin", "first", AT)

    def other_admin(document: dict[str, Any]) -> None:
        document["history"].append({"retention_class": "extended", "reason": "theirs"})

    store.docs.race("org_a", other_admin)
    resolver.set_org_class("org_a", "standard", "admin", "mine", AT)
    source, _ = store.docs.get("org_a")
    assert [h["reason"] for h in source["history"]] == ["first", "theirs", "mine"]

    store.docs.race("org_a", other_admin, times=store.ATTEMPTS)
    with pytest.raises(ConflictError, match="kept changing"):
        resolver.set_org_class("org_a", "extended", "admin", "lost", AT)


def _event(org: str, data_category: str, timestamp: datetime) -> NormalizedEvent:
    return NormalizedEvent("e1", org, "user.login", "success", timestamp, data_category, {})


def _index_name(retention_class: str, day: str) -> str:
    return f"audit-events-{retention_class}-{day}"


def test_daily_index_is_the_class_and_the_event_time_day_and_follows_changes(
    policy: RetentionPolicy,
) -> None:
    store, ticks = FakeOrgSettingsStore(), Ticks()
    resolver = RetentionClassResolver(store, policy, ttl_seconds=60, clock=ticks)
    index_for = DailyIndexes(resolver, _index_name)
    login = _event("org_a", "authentication_security", AT)
    late = _event("org_a", "authentication_security", datetime(2026, 11, 26, 23, 59, tzinfo=UTC))
    assert index_for(login) == "audit-events-standard-2026.11.26"
    assert index_for(late) == "audit-events-standard-2026.11.26"
    next_day = _event("org_a", "authentication_security", datetime(2026, 11, 27, tzinfo=UTC))
    assert index_for(next_day) == "audit-events-standard-2026.11.27"
    assert resolver.reads == 1  # one read for the organization, then cache hits

    # A change through this resolver applies at once, as class_for's does.
    resolver.set_org_class("org_a", "extended", "admin", "contract", AT)
    assert index_for(login) == "audit-events-extended-2026.11.26"
    # A change by another process is seen after the TTL, not before.
    RetentionClassResolver(store, policy).set_org_class("org_a", "standard", "a", "back", AT)
    ticks.now = 59
    assert index_for(login) == "audit-events-extended-2026.11.26"
    ticks.now = 121
    assert index_for(login) == "audit-events-standard-2026.11.26"
    for category in ("authentication_security", "account", "organization_billing", "unknown"):
        event = _event("org_a", category, AT)
        assert index_for(event) == _index_name(resolver.class_for("org_a", category), "2026.11.26")


def test_daily_index_waits_through_an_outage_like_class_for(policy: RetentionPolicy) -> None:
    store, ticks = FakeOrgSettingsStore(), Ticks()
    resolver = RetentionClassResolver(store, policy, ttl_seconds=60, clock=ticks)
    index_for = DailyIndexes(resolver, _index_name)
    resolver.set_org_class("org_a", "extended", "admin", "contract", AT)
    assert index_for(_event("org_a", "account", AT)) == "audit-events-extended-2026.11.26"
    ticks.now = 61
    store.docs.outages.down_forever = True
    # The known class is served a while longer, grace after grace; an
    # organization never read cannot be placed.
    reads = resolver.reads
    assert index_for(_event("org_a", "account", AT)) == "audit-events-extended-2026.11.26"
    ticks.now = 61 + 6
    assert index_for(_event("org_a", "account", AT)) == "audit-events-extended-2026.11.26"
    assert resolver.reads == reads + 2  # each grace over, the store is tried again
    with pytest.raises(StoreUnavailable):
        index_for(_event("org_b", "account", AT))
