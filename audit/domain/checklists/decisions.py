"""Decisions on checklist items: recorded once, amended only by later decisions.

A decision is never edited. A later decision on the same item amends it: the
latest (by ``decided_at``, then by order of recording) is the one in force,
and the earlier ones stay in the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from audit.domain.legal.deadlines import to_utc
from audit.errors import InvalidTransition


class DecisionRefused(InvalidTransition):
    """A decision cannot be recorded as given (unknown item, answer not allowed,
    or dated before the decision it would amend). Correct it and record again."""


class ItemDecision(BaseModel):
    """One decision on one checklist item.

    ``effective_at`` is when the decided fact took effect, when it differs from
    when it was recorded (a materiality determination made at a meeting and
    recorded later); clocks that start at a decision start there.
    ``expires_at`` carries an expiry the answer has (a law-enforcement delay).
    ``late_reasons`` explains a notification made after its deadline.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    rationale: str = Field(min_length=1)
    decided_by: str = Field(min_length=1)
    decided_at: AwareDatetime
    effective_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    late_reasons: str | None = None
    details: dict[str, str] = Field(default_factory=dict)

    @field_validator("decided_at", "effective_at", "expires_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc(value)

    @property
    def anchor(self) -> datetime:
        """The instant clocks that start at this decision start from."""
        return self.effective_at or self.decided_at


def decisions_by_item(decisions: Iterable[ItemDecision]) -> dict[str, list[ItemDecision]]:
    """Every decision per item, oldest first (stable for equal ``decided_at``)."""
    grouped: dict[str, list[ItemDecision]] = {}
    for decision in decisions:
        grouped.setdefault(decision.item_id, []).append(decision)
    return {item: sorted(items, key=lambda d: d.decided_at) for item, items in grouped.items()}


def latest_decisions(decisions: Iterable[ItemDecision]) -> dict[str, ItemDecision]:
    """The decision in force per item."""
    return {item: items[-1] for item, items in decisions_by_item(decisions).items()}


def append_decision(
    log: Sequence[ItemDecision], decision: ItemDecision
) -> tuple[ItemDecision, ...]:
    """``log`` with ``decision`` appended; an amendment must not predate what it amends."""
    current: Mapping[str, ItemDecision] = latest_decisions(log)
    previous = current.get(decision.item_id)
    if previous is not None and decision.decided_at < previous.decided_at:
        raise DecisionRefused(
            f"decision on {decision.item_id!r} dated {decision.decided_at.isoformat()} "
            f"predates the one in force ({previous.decided_at.isoformat()}); "
            "a decision is amended only by a later one"
        )
    return (*log, decision)
