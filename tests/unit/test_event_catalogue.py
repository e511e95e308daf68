"""The action catalogue: ECS categorisation and data categories of events."""

from __future__ import annotations

from typing import Any

import pytest

from audit.domain.catalogue import (
    CATALOGUE,
    CUSTOMER_CONTENT_RESOURCE_TYPES,
    DEFAULT_DATA_CATEGORY,
    EXTENSION_ACTIONS,
    DataCategory,
    data_category_for,
    is_known_action,
    lookup,
)
from tests.unit.test_event_model import accept, event

# Every action of the contract's catalogue with its ECS category/type.
CONTRACT_ACTIONS = {
    "user.login": ("authentication", "start"),
    "user.logout": ("authentication", "end"),
    "user.mfa.challenge": ("authentication", "info"),
    "user.password.reset": ("iam", "change"),
    "sso.login": ("authentication", "start"),
    "session.create": ("session", "start"),
    "session.revoke": ("session", "end"),
    "token.issue": ("authentication", "creation"),
    "token.refresh": ("authentication", "change"),
    "token.revoke": ("authentication", "deletion"),
    "token.use": ("authentication", "access"),
    "api_key.create": ("iam", "creation"),
    "api_key.revoke": ("iam", "deletion"),
    "api_key.use": ("authentication", "access"),
    "user.create": ("iam", "creation"),
    "user.disable": ("iam", "change"),
    "user.enable": ("iam", "change"),
    "user.delete": ("iam", "deletion"),
    "role.grant": ("iam", "change"),
    "role.revoke": ("iam", "change"),
    "org.member.invite": ("iam", "creation"),
    "org.member.remove": ("iam", "deletion"),
    "mfa.enroll": ("iam", "change"),
    "mfa.disable": ("iam", "change"),
    "sso.config.change": ("configuration", "change"),
    "org.settings.change": ("configuration", "change"),
    "org.integration.add": ("configuration", "creation"),
    "org.integration.remove": ("configuration", "deletion"),
    "org.retention.change": ("configuration", "change"),
    "audit.settings.change": ("configuration", "change"),
    "content.read": ("api", "access"),
    "content.write": ("api", "change"),
    "content.delete": ("api", "deletion"),
    "content.export": ("api", "access"),
    "logs.export": ("api", "access"),
    "repository.sync": ("api", "change"),
    "resource.access": ("api", "access"),
    "rate_limit.exceeded": ("intrusion_detection", "denied"),
    "waf.block": ("intrusion_detection", "denied"),
    "abuse.report": ("intrusion_detection", "info"),
}

EXTENSIONS = {
    "audit.access",
    "legal_hold.create",
    "legal_hold.release",
    "export.create",
    "disclosure.create",
    "disclosure.decide",
    "disclosure.approve",
    "incident.transition",
    "checklist.decide",
    "retention.class.change",
    "dsr.create",
    "dsr.decide",
    "dsr.change",
    "dsr.execute",
}


def test_catalogue_holds_exactly_the_contract_and_extension_actions() -> None:
    assert set(CATALOGUE) == set(CONTRACT_ACTIONS) | EXTENSIONS
    assert EXTENSION_ACTIONS == EXTENSIONS
    assert all(CATALOGUE[a].extension for a in EXTENSIONS)
    assert not any(CATALOGUE[a].extension for a in CONTRACT_ACTIONS)


@pytest.mark.parametrize(("action", "ecs"), sorted(CONTRACT_ACTIONS.items()))
def test_category_and_type_are_filled_from_the_catalogue(action: str, ecs: tuple[str, str]) -> None:
    result = accept(event(**{"event.action": action}))
    assert result.document["event"]["category"] == [ecs[0]]
    assert result.document["event"]["type"] == [ecs[1]]


@pytest.mark.parametrize("action", sorted(EXTENSIONS))
def test_extension_actions_are_configuration_or_api_and_security_data(action: str) -> None:
    result = accept(event(**{"event.action": action, "event.provider": "audit-service"}))
    assert result.document["event"]["category"] in (["configuration"], ["api"])
    assert result.data_category == "authentication_security"


def test_producer_category_and_type_are_kept() -> None:
    doc = event(**{"event.category": ["web"], "event.type": ["info", "start"]})
    result = accept(doc)
    assert result.document["event"]["category"] == ["web"]
    assert result.document["event"]["type"] == ["info", "start"]


def test_category_and_type_are_filled_independently() -> None:
    result = accept(event(**{"event.category": ["web"]}))
    assert result.document["event"]["category"] == ["web"]
    assert result.document["event"]["type"] == ["start"]


def test_filled_lists_are_not_shared_between_events() -> None:
    first = accept(event())
    first.document["event"]["category"].append("mutated")
    second = accept(event())
    assert second.document["event"]["category"] == ["authentication"]


def test_unknown_action_is_accepted_without_ecs_categorisation() -> None:
    result = accept(event(**{"event.action": "user.passkey.register"}))
    assert result.action == "user.passkey.register"
    assert "category" not in result.document["event"]
    assert "type" not in result.document["event"]
    assert result.data_category == DEFAULT_DATA_CATEGORY == "authentication_security"
    assert not is_known_action("user.passkey.register")
    assert lookup("user.passkey.register") is None


@pytest.mark.parametrize(
    ("action", "category"),
    [
        ("support.ticket.create", "support"),
        ("telemetry.upload", "telemetry"),
        ("billing.invoice.pay", "organization_billing"),
        ("org.plan.change", "organization_billing"),
        ("profile.update", "account"),
        ("quantum.flux", "authentication_security"),
    ],
)
def test_unknown_actions_by_first_segment(action: str, category: str) -> None:
    assert accept(event(**{"event.action": action})).data_category == category


# One representative per family, plus every catalogue action below.
FAMILY_CATEGORIES = {
    "authentication_security": [
        "user.login",
        "user.logout",
        "user.mfa.challenge",
        "user.password.reset",
        "sso.login",
        "session.create",
        "session.revoke",
        "token.issue",
        "token.refresh",
        "token.revoke",
        "token.use",
        "api_key.create",
        "api_key.revoke",
        "api_key.use",
        "mfa.enroll",
        "mfa.disable",
        "sso.config.change",
        "resource.access",
        "rate_limit.exceeded",
        "waf.block",
        "abuse.report",
        "audit.settings.change",
    ],
    "account": [
        "user.create",
        "user.disable",
        "user.enable",
        "user.delete",
        "role.grant",
        "role.revoke",
    ],
    "organization_billing": [
        "org.member.invite",
        "org.member.remove",
        "org.settings.change",
        "org.integration.add",
        "org.integration.remove",
        "org.retention.change",
    ],
    "customer_content": [
        "content.read",
        "content.write",
        "content.delete",
        "content.export",
        "logs.export",
        "repository.sync",
    ],
}


def test_every_contract_action_has_a_family() -> None:
    listed = [a for actions in FAMILY_CATEGORIES.values() for a in actions]
    assert sorted(listed) == sorted(CONTRACT_ACTIONS)


@pytest.mark.parametrize(
    ("action", "category"),
    [(a, c) for c, actions in FAMILY_CATEGORIES.items() for a in actions],
)
def test_data_category_of_each_action(action: str, category: str) -> None:
    assert data_category_for(action) == category
    result = accept(event(**{"event.action": action}))
    assert result.data_category == category
    assert result.document["elastra"]["data_category"] == category


@pytest.mark.parametrize("resource_type", sorted(CUSTOMER_CONTENT_RESOURCE_TYPES))
@pytest.mark.parametrize("action", ["resource.access", "user.login", "org.settings.change", "x.y"])
def test_customer_content_resource_type_wins_over_action(resource_type: str, action: str) -> None:
    doc = event(**{"event.action": action, "elastra.resource.type": resource_type})
    assert accept(doc).data_category == "customer_content"


def test_customer_content_resource_types_are_those_of_the_contract() -> None:
    assert {
        "prompt",
        "policy",
        "rule",
        "command",
        "log",
        "repository_metadata",
        "memory_entry",
        "synced_reference",
        "generated_output",
    } == CUSTOMER_CONTENT_RESOURCE_TYPES


@pytest.mark.parametrize("resource_type", ["dashboard", "Prompt", "invoice", None])
def test_other_resource_types_do_not_make_customer_content(resource_type: Any) -> None:
    doc = event(**{"event.action": "resource.access", "elastra.resource.type": resource_type})
    assert accept(doc).data_category == "authentication_security"


def test_failure_reasons_of_the_contract() -> None:
    assert CATALOGUE["user.login"].failure_reasons == {
        "bad_password",
        "unknown_user",
        "locked",
        "disabled",
        "mfa_required",
        "expired_password",
        "sso_required",
    }
    assert CATALOGUE["user.mfa.challenge"].failure_reasons == {"denied", "timeout", "bad_code"}
    assert CATALOGUE["token.use"].failure_reasons == {"revoked", "expired", "invalid"}
    assert CATALOGUE["api_key.use"].failure_reasons == {"revoked", "invalid"}
    assert CATALOGUE["resource.access"].failure_reasons == {
        "cross_tenant",
        "forbidden",
        "not_found",
    }
    assert CATALOGUE["user.logout"].failure_reasons == frozenset()


def test_unlisted_failure_reason_is_still_accepted() -> None:
    assert accept(event(**{"event.reason": "solar_flare"})).document["event"]["reason"] == (
        "solar_flare"
    )


def test_data_categories_are_those_of_the_privacy_policy() -> None:
    assert {c.value for c in DataCategory} == {
        "account",
        "organization_billing",
        "authentication_security",
        "support",
        "telemetry",
        "customer_content",
    }
