"""An in-memory model of the cluster the retention plan is applied to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from audit.adapters.bundled_data import load_retention_policy
from audit.domain.retention import (
    IndexState,
    LegalHold,
    PlannedAction,
    RetentionPolicy,
    Step,
    StepKind,
    index_name,
)

FIRST_DAY = date(2025, 1, 1)
DAYS = 730  # two years of daily indices per class
ORGS = ("org_a", "org_b")


@pytest.fixture(scope="session")
def policy() -> RetentionPolicy:
    return load_retention_policy()


@dataclass
class Cluster:
    """Index states plus, per index, the (organization, day) documents it holds."""

    states: dict[str, IndexState]
    docs: dict[str, set[tuple[str, date]]] = field(default_factory=dict)

    @classmethod
    def synthetic(cls, classes: tuple[str, ...] = ("standard", "extended")) -> Cluster:
        cluster = cls({})
        for offset in range(DAYS):
            day = FIRST_DAY + timedelta(days=offset)
            for name in classes:
                index = index_name(name, day)
                cluster.states[index] = IndexState.event_index(
                    index, replicas=1, segments=12, doc_count=len(ORGS)
                )
                cluster.docs[index] = {(org, day) for org in ORGS}
        return cluster

    def indices(self) -> list[IndexState]:
        return list(self.states.values())

    def apply_step(self, step: Step, holds: dict[str, LegalHold], policy: RetentionPolicy) -> None:
        state = self.states[step.index]
        update: dict[str, object] = {}
        match step.kind:
            case StepKind.REMOVE_READ_ONLY:
                update["read_only"] = False
            case StepKind.ADD_READ_ONLY:
                update["read_only"] = True
            case StepKind.ADD_WRITE_BLOCK:
                update["write_block"] = True
            case StepKind.FORCE_MERGE:
                assert not state.read_only, "force-merge refused on a read-only index"
                update["segments"] = step.segments
            case StepKind.SET_REPLICAS:
                assert not state.read_only, "settings refused on a read-only index"
                update["replicas"] = step.replicas
            case StepKind.SET_TIER_PREFERENCE:
                assert not state.read_only, "settings refused on a read-only index"
                update["tier_preference"] = step.tier_preference
            case StepKind.COPY_HELD:
                assert step.target is not None and step.hold_id is not None
                self._copy(state, step.target, holds[step.hold_id], policy)
            case StepKind.DELETE_INDEX:
                del self.states[step.index]
                del self.docs[step.index]
                return
        self.states[step.index] = state.model_copy(update=update)

    def _copy(
        self, source: IndexState, target: str, hold: LegalHold, policy: RetentionPolicy
    ) -> None:
        day_start = datetime.combine(source.day, datetime.min.time(), tzinfo=UTC)
        selected = {
            (org, day)
            for org, day in self.docs[source.name]
            if org in hold.scope.organization_ids
            and hold.matches_index(day)
            and (hold.scope.end is None or day_start < hold.scope.end)
        }
        existing = self.states.get(target)
        longest = source.retention_class
        newest = source.day
        if existing is not None:
            if (
                policy.classes[existing.retention_class].delete_after_days
                > policy.classes[longest].delete_after_days
            ):
                longest = existing.retention_class
            newest = max(newest, existing.day)
        self.states[target] = IndexState(
            name=target, retention_class=longest, day=newest, replicas=0, segments=1
        )
        self.docs.setdefault(target, set()).update(selected)

    def apply(
        self,
        actions: list[PlannedAction],
        holds: list[LegalHold],
        policy: RetentionPolicy,
        crash_after: int | None = None,
    ) -> int:
        """Apply every step in order; stop after ``crash_after`` steps. Returns steps done."""
        by_id = {hold.id: hold for hold in holds}
        done = 0
        for action in actions:
            for step in action.steps:
                if crash_after is not None and done >= crash_after:
                    return done
                self.apply_step(step, by_id, policy)
                done += 1
        return done
