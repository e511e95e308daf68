"""Retention: policy as data, index names, legal holds, the tiering and
deletion plan, and the end-of-contract erasure plan. Pure: time is passed in."""

from audit.domain.retention.erasure import ErasurePlan, ErasureTarget, erasure_plan, erasure_query
from audit.domain.retention.holds import HoldScope, LegalHold, hold_query
from audit.domain.retention.indices import (
    EVENTS_PREFIX,
    HOLDS_PREFIX,
    READ_ALIAS,
    EventIndexName,
    hold_index_name,
    index_name,
    parse_hold_index_name,
    parse_index_name,
)
from audit.domain.retention.planner import (
    ActionKind,
    PlannedAction,
    Step,
    StepKind,
    pending,
    plan,
)
from audit.domain.retention.policy import (
    CategoryRule,
    RetentionClass,
    RetentionPolicy,
    RetentionPolicyError,
    TierSettings,
    parse_policy,
)
from audit.domain.retention.state import IndexState, Tier

__all__ = [
    "EVENTS_PREFIX",
    "HOLDS_PREFIX",
    "READ_ALIAS",
    "ActionKind",
    "CategoryRule",
    "ErasurePlan",
    "ErasureTarget",
    "EventIndexName",
    "HoldScope",
    "IndexState",
    "LegalHold",
    "PlannedAction",
    "RetentionClass",
    "RetentionPolicy",
    "RetentionPolicyError",
    "Step",
    "StepKind",
    "Tier",
    "TierSettings",
    "erasure_plan",
    "erasure_query",
    "hold_index_name",
    "hold_query",
    "index_name",
    "parse_hold_index_name",
    "parse_index_name",
    "parse_policy",
    "pending",
    "plan",
]
