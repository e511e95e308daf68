"""Builders shared by the incident tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from audit.domain.checklists import ItemDecision
from audit.domain.detection.record import Detection, Severity

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def detection(
    det_id: str,
    severity: str = "medium",
    *,
    orgs: tuple[str, ...] = ("org_a",),
    at: datetime = T0,
    minutes: int = 5,
    entities: dict[str, list[str]] | None = None,
    categories: tuple[str, ...] = ("authentication_security",),
    affected: tuple[str, ...] = (),
    rule: str | None = None,
    count: int = 3,
) -> Detection:
    return Detection(
        id=det_id,
        rule_id=rule or f"rule.{det_id}",
        rule_name=f"Rule {det_id}",
        severity=Severity(severity),
        group_key={"k": det_id},
        organization_ids=list(orgs),
        affected_organization_ids=list(affected),
        first_seen=at,
        last_seen=at + timedelta(minutes=minutes),
        event_count=count,
        event_ids=[f"{det_id}-e{i}" for i in range(count)],
        data_categories=list(categories),
        entities=entities or {},
        window_start=at,
    )


def decision(item: str, answer: str, at: datetime, **extra: object) -> ItemDecision:
    return ItemDecision.model_validate(
        {
            "item_id": item,
            "answer": answer,
            "rationale": f"because {answer}",
            "decided_by": "counsel@elastra.example",
            "decided_at": at,
            **extra,
        }
    )
