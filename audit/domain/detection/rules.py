"""Typed rule models and the registry mapping a rule file's ``type:`` to a class.

Every rule has an id, a severity, its MITRE ATT&CK technique, the data
categories it concerns, a false-positive note, the fields that make its
group key (``group_by``), a predicate (``where``) and a suppression window.
Each rule type adds its own options; :data:`RULE_TYPES` is the registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from audit.domain.detection.predicates import FieldPath, PredicateNode
from audit.domain.detection.record import Severity

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_duration(value: Any) -> Any:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"30d"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a string like '5m' or a number of seconds")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration like '90s', '5m', '1h' or '30d'")
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("a duration must be positive")
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]

DataCategory = Literal[
    "account",
    "organization_billing",
    "authentication_security",
    "support",
    "telemetry",
    "customer_content",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class FirstOf(_Frozen):
    """The first present of several fields, e.g. a credential id::

    {first_of: [elastra.token.id, elastra.api_key.id]}

    In a group key the entry is named after the field that was present.
    """

    first_of: tuple[FieldPath, ...] = Field(min_length=1)


KeyField = FieldPath | FirstOf


def key_field_paths(field: KeyField) -> tuple[str, ...]:
    return field.first_of if isinstance(field, FirstOf) else (field,)


class Mitre(_Frozen):
    technique: Annotated[str, Field(pattern=r"^T\d{4}(\.\d{3})?$")]
    name: str = ""


class RuleBase(_Frozen):
    """What every rule type has."""

    type: str
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", max_length=100)]
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    severity: Severity
    mitre: Mitre
    data_categories: tuple[DataCategory, ...] = Field(min_length=1)
    false_positives: str = Field(min_length=1)
    enabled: bool = True
    group_by: tuple[KeyField, ...] = Field(min_length=1)
    where: tuple[PredicateNode, ...] = ()
    suppression: Duration = timedelta(hours=1)

    #: Options that change the rule's semantics beyond the base (for docs).
    kind: ClassVar[str] = ""
    #: Monotone: once the events seen so far satisfy the condition, more
    #: events (earlier or later ones, in any arrival order) can only keep it
    #: satisfied. The engine evaluates a monotone rule on every event as it
    #: arrives and fires at once; a non-monotone one waits for the watermark
    #: (its answer could still change). Each type says why it is or is not.
    monotone: ClassVar[bool] = False

    @model_validator(mode="after")
    def _durations_positive(self) -> RuleBase:
        for name, value in self:
            if isinstance(value, timedelta):
                _positive(value)
                if name and value > timedelta(days=400):
                    raise ValueError(f"{name} longer than 400 days")
        return self


class WindowedRule(RuleBase):
    window: Duration


class MatchRule(RuleBase):
    """One event matching ``where`` is enough."""

    type: Literal["match"]
    #: Monotone: one event decides; nothing arriving later can undo it.
    monotone: ClassVar[bool] = True


class ThresholdRule(WindowedRule):
    """At least ``threshold`` matching events per group key within ``window``."""

    type: Literal["threshold"]
    threshold: int = Field(ge=1)
    #: Monotone: adding events to a window never lowers its count.
    monotone: ClassVar[bool] = True


class DistinctCount(_Frozen):
    """At least ``at_least`` distinct values of the (tuple of) ``fields``."""

    fields: tuple[KeyField, ...] = Field(min_length=1)
    at_least: int = Field(ge=1)


class ValueCountRule(WindowedRule):
    """Distinct values per group key within ``window``: every minimum must hold."""

    type: Literal["value_count"]
    distinct: tuple[DistinctCount, ...] = Field(min_length=1)
    #: Monotone: adding events never removes a distinct value.
    monotone: ClassVar[bool] = True


class SumRule(WindowedRule):
    """The sum of a numeric field per group key within ``window`` reaches ``at_least``."""

    type: Literal["sum"]
    field: FieldPath
    at_least: float = Field(gt=0)
    #: Monotone: amounts are counted as non-negative (a negative or missing
    #: amount counts 0), so adding events never lowers the sum.
    monotone: ClassVar[bool] = True


class Step(_Frozen):
    """One step of a sequence: ``count`` events matching ``where``.

    ``join`` lists the step's own fields that give the group key, in the
    order of the rule's ``group_by`` (default: the same fields).
    """

    name: str = Field(min_length=1)
    where: tuple[PredicateNode, ...] = Field(min_length=1)
    count: int = Field(default=1, ge=1)
    join: tuple[KeyField, ...] | None = None


class SequenceRule(WindowedRule):
    """Ordered steps for one group key, all within ``window`` of the first."""

    type: Literal["sequence"]
    steps: tuple[Step, ...] = Field(min_length=2)
    #: Monotone: the order is judged by event time, not arrival, and a
    #: match of every step in order stays a match whatever else arrives.
    monotone: ClassVar[bool] = True

    @field_validator("steps")
    @classmethod
    def _joins_fit(cls, steps: tuple[Step, ...], info: ValidationInfo) -> tuple[Step, ...]:
        group_by = info.data.get("group_by")
        if group_by is None:
            return steps
        for index, step in enumerate(steps):
            if step.join is not None and len(step.join) != len(group_by):
                raise ValueError(
                    f"steps[{index}].join has {len(step.join)} fields, "
                    f"group_by has {len(group_by)}: give one per group_by field"
                )
        return steps

    def join_of(self, index: int) -> tuple[KeyField, ...]:
        join = self.steps[index].join
        return self.group_by if join is None else join


class NewValueRule(RuleBase):
    """A value of ``field`` absent from the group's ``history`` (UTC days).

    Only once the history holds ``min_history_events`` events spanning at
    least ``min_history_span`` (the learning period).
    """

    type: Literal["new_value"]
    #: Not monotone: "never seen before" depends on the history, and an
    #: earlier event with the same value arriving later would make the
    #: value known. It waits for the watermark (late events within the
    #: horizon are judged against the history known when they arrive).
    monotone: ClassVar[bool] = False
    field: FieldPath
    history: Duration = timedelta(days=30)
    min_history_events: int = Field(default=5, ge=1)
    min_history_span: Duration = timedelta(days=7)


class GeoVelocityRule(RuleBase):
    """Two events too far apart for the time between them."""

    type: Literal["geo_velocity"]
    #: Monotone: a pair of events within ``max_interval`` that is too fast
    #: stays too fast whatever else arrives. Each event is compared with the
    #: one before it in event time; one arriving out of order with its
    #: neighbours in event time and the newest (see GeoVelocityEvaluator).
    monotone: ClassVar[bool] = True
    location_field: FieldPath = "source.geo.location"
    min_distance_km: float = Field(default=500, gt=0)
    min_speed_kmh: float = Field(default=900, gt=0)
    max_interval: Duration = timedelta(hours=24)


Rule = RuleBase
RuleT = TypeVar("RuleT", bound=RuleBase)

RULE_TYPES: dict[str, type[RuleBase]] = {}


def register_rule_type(name: str) -> Callable[[type[RuleT]], type[RuleT]]:
    """Register a rule class under its ``type:`` name."""

    def add(cls: type[RuleT]) -> type[RuleT]:
        if name in RULE_TYPES:
            raise ValueError(f"rule type {name!r} registered twice")
        RULE_TYPES[name] = cls
        return cls

    return add


for _name, _cls in (
    ("match", MatchRule),
    ("threshold", ThresholdRule),
    ("value_count", ValueCountRule),
    ("sum", SumRule),
    ("sequence", SequenceRule),
    ("new_value", NewValueRule),
    ("geo_velocity", GeoVelocityRule),
):
    register_rule_type(_name)(_cls)


def rule_from_dict(data: Mapping[str, Any]) -> RuleBase:
    """Build the rule class named by ``data["type"]`` (raises ValueError/ValidationError)."""
    kind = data.get("type")
    cls = RULE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(sorted(RULE_TYPES))
        raise ValueError(f"unknown rule type {kind!r}: use one of {known}")
    return cls.model_validate(dict(data))
