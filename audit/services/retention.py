"""Planning and applying retention: tiers, deletion, held copies first.

``plan(at)`` observes the indices and the holds and asks the domain for the
plan; ``apply(at)`` carries out every pending action step by step. A step
that fails stops its index's action (the next steps of that index are not
run) and the rest of the plan goes on; a copy that does not verify stops
the deletion of its source. Steps are idempotent and a new plan starts from
the observed state, so a crash and a rerun reach the same end state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from audit.domain.retention import (
    ActionKind,
    PlannedAction,
    RetentionPolicy,
    Step,
    StepKind,
    pending,
    plan,
)
from audit.errors import AuditError, StoreUnavailable
from audit.services.field_ageing import FieldAgeing
from audit.services.ports.ingest import MetricsRecorder
from audit.services.ports.retention import (
    HeldSource,
    HoldCopyNotVerified,
    HoldStore,
    RetentionCluster,
)

log = logging.getLogger(__name__)

ACTIONS_METRIC = "audit_retention_actions_total"
StepHook = Callable[[PlannedAction, Step], None]


@dataclass
class ActionResult:
    index: str
    action: str
    outcome: str  # success, failure, refused (a held copy did not verify)
    steps_done: list[str] = field(default_factory=list)
    copies: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class RetentionReport:
    at: str
    planned: int
    results: list[ActionResult]
    ageing: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(result.outcome == "success" for result in self.results)

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for result in self.results:
            key = f"{result.action}:{result.outcome}"
            counts[key] = counts.get(key, 0) + 1
        return {
            "at": self.at,
            "planned": self.planned,
            "ok": self.ok,
            "counts": dict(sorted(counts.items())),
            "results": [asdict(result) for result in self.results],
            **({"ageing": self.ageing} if self.ageing is not None else {}),
        }


class RetentionService:
    def __init__(
        self,
        cluster: RetentionCluster,
        holds: HoldStore,
        policy: RetentionPolicy,
        metrics: MetricsRecorder,
        display: Callable[[str], str] = str,
        ageing: FieldAgeing | None = None,
    ) -> None:
        self._ageing = ageing  # personal fields that age out (field_ages)
        self._cluster = cluster
        self._holds = holds
        self.policy = policy
        self._metrics = metrics
        self._display = display  # the deployment's name of a domain index name

    def plan(self, at: datetime) -> list[PlannedAction]:
        return plan(self._cluster.observe(), self._holds.all(), self.policy, at)

    def apply(self, at: datetime, after_step: StepHook | None = None) -> RetentionReport:
        """Apply every pending action; ``after_step`` is called after each step (tests)."""
        actions = pending(self.plan(at))
        results = []
        for action in actions:
            result = self._apply_action(action, after_step)
            results.append(result)
            self._metrics.inc(ACTIONS_METRIC, action=action.kind.value, outcome=result.outcome)
            if result.outcome != "success":
                log.warning("retention %s of %s: %s", action.kind, result.index, result.error)
        report = RetentionReport(at=at.isoformat(), planned=len(actions), results=results)
        if self._ageing is not None:
            report.ageing = self._ageing.run(at).to_json()
        log.info("retention at %s: %s", report.at, report.to_json()["counts"])
        return report

    def _apply_action(self, action: PlannedAction, after_step: StepHook | None) -> ActionResult:
        result = ActionResult(self._display(action.index), action.kind.value, "success")
        source = HeldSource(action.retention_class, action.day)
        for step in action.steps:
            try:
                copy = self._cluster.apply_step(
                    step, source if step.kind is StepKind.COPY_HELD else None
                )
            except HoldCopyNotVerified as err:
                result.outcome, result.error = "refused", str(err)
                return result
            except StoreUnavailable as err:
                result.outcome, result.error = "failure", str(err)
                raise
            except AuditError as err:
                result.outcome, result.error = "failure", str(err)
                return result
            result.steps_done.append(step.kind.value)
            if copy is not None:
                result.copies.append(
                    {"hold": step.hold_id, "target": self._display(step.target or "")}
                    | asdict(copy)
                )
            if after_step is not None:
                after_step(action, step)
        return result


def describe(action: PlannedAction, display: Callable[[str], str] = str) -> dict[str, Any]:
    """The stable JSON line of ``audit retention plan --json``."""
    return {
        "index": display(action.index),
        "class": action.retention_class,
        "day": action.day.isoformat(),
        "age_days": action.age_days,
        "tier": action.tier.value,
        "action": action.kind.value,
        "reason": action.reason,
        "steps": [step.kind.value for step in action.steps],
        "holds": list(action.holds),
        "blocked_by": list(action.blocked_by),
        "deletes": action.kind in (ActionKind.DELETE, ActionKind.COPY_HELD_THEN_DELETE),
    }
