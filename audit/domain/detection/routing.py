"""Routing: from one event to the (rule, group key) records it may concern.

Events arrive keyed by organization, but rules group by other keys (an IP
across organizations, a credential, a session, a granted user). The runtime
publishes each :class:`RoutedEvent` to an internal topic keyed by its
``key`` (``rule_id|value|value``), so every record of one group key is
evaluated by the one process that owns that partition, whatever the number
of consumers. Routing applies each rule's predicate, so events no rule
cares about are not routed at all, and carries only a projection of the
fields the rule needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from audit.domain.detection.predicates import Getter, compile_all, compile_getter, required_actions
from audit.domain.detection.rules import (
    FirstOf,
    GeoVelocityRule,
    KeyField,
    NewValueRule,
    RuleBase,
    SequenceRule,
    SumRule,
    ValueCountRule,
    key_field_paths,
)
from audit.domain.event import NormalizedEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

#: Fields copied into every routed record: the detection's entities, the
#: resource owner (affected organizations) and the data category.
ENTITY_FIELDS = (
    "user.id",
    "source.ip",
    "elastra.token.id",
    "elastra.api_key.id",
    "elastra.session.id",
    "user.target.id",
)
RESOURCE_ORG_FIELD = "elastra.resource.organization_id"
CATEGORY_FIELD = "elastra.data_category"
_BASE_FIELDS = (*ENTITY_FIELDS, RESOURCE_ORG_FIELD, CATEGORY_FIELD)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact)."""
    return (moment - EPOCH) // _US


def from_us(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def _rfc3339(micros: int) -> str:
    return from_us(micros).isoformat().replace("+00:00", "Z")


def _parse_time(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time without a time zone: {text!r}")
    return to_us(moment)


def escape_key_part(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


class RoutedEvent(NamedTuple):
    """What one rule needs of one event, for one group key.

    ``key`` is the partition key of the internal topic, ``rule_id|v1|v2``
    with ``\\`` and ``|`` in values escaped by a backslash. ``time_us`` is
    the event time in microseconds since the epoch; ``clock_us`` is the
    time this record may move the watermark to (the event time, or less
    when the runtime knows the message arrived earlier than its claimed
    time: a producer's clock running ahead must not make everything late).
    ``step`` is the sequence step the event matched (0 for other types).
    ``fields`` is the projection, flat dotted names; never mutated.
    """

    rule_id: str
    key: str
    group_key: tuple[tuple[str, str], ...]
    time_us: int
    event_id: str
    organization_id: str
    step: int
    fields: Mapping[str, Any]
    clock_us: int

    @property
    def time(self) -> datetime:
        return from_us(self.time_us)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "key": self.key,
            "group_key": dict(self.group_key),
            "time": _rfc3339(self.time_us),
            "event_id": self.event_id,
            "organization_id": self.organization_id,
            "step": self.step,
            "fields": dict(self.fields),
        }
        if self.clock_us != self.time_us:
            out["clock"] = _rfc3339(self.clock_us)
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutedEvent:
        time_us = _parse_time(data["time"])
        clock = data.get("clock")
        return cls(
            rule_id=str(data["rule_id"]),
            key=str(data["key"]),
            group_key=tuple((str(k), str(v)) for k, v in data["group_key"].items()),
            time_us=time_us,
            event_id=str(data["event_id"]),
            organization_id=str(data["organization_id"]),
            step=int(data.get("step", 0)),
            fields=dict(data.get("fields", {})),
            clock_us=_parse_time(clock) if clock else time_us,
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> RoutedEvent:
        return cls.from_dict(orjson.loads(data))


_KeyPart = tuple[tuple[str, Getter], ...]


@dataclass(frozen=True, slots=True)
class _Target:
    rule_id: str
    step: int
    test: Any
    key_parts: tuple[_KeyPart, ...]
    extras: tuple[tuple[str, Getter], ...]
    required: Getter | None


def _key_part(field: KeyField) -> _KeyPart:
    return tuple((path, compile_getter(path)) for path in key_field_paths(field))


def _as_key_value(value: Any) -> str | None:
    if type(value) is str:
        return value or None
    if type(value) is int:
        return str(value)
    return None


def projected_fields(rule: RuleBase) -> tuple[str, ...]:
    """The rule-specific fields a routed record carries besides the base ones."""
    paths: list[str] = []
    if isinstance(rule, ValueCountRule):
        for spec in rule.distinct:
            for field in spec.fields:
                paths.extend(key_field_paths(field))
    elif isinstance(rule, SumRule | NewValueRule):
        paths.append(rule.field)
    elif isinstance(rule, GeoVelocityRule):
        paths.append(rule.location_field)
    skip = {*_BASE_FIELDS, "organization.id"}
    return tuple(dict.fromkeys(p for p in paths if p not in skip))


def _targets(rule: RuleBase) -> list[tuple[Any, _Target]]:
    extras = tuple((p, compile_getter(p)) for p in projected_fields(rule))
    required: Getter | None = None
    if isinstance(rule, SumRule | NewValueRule):
        required = compile_getter(rule.field)
    elif isinstance(rule, GeoVelocityRule):
        required = compile_getter(rule.location_field)
    out: list[tuple[Any, _Target]] = []
    if isinstance(rule, SequenceRule):
        for index, step in enumerate(rule.steps):
            nodes = (*rule.where, *step.where)
            target = _Target(
                rule.id,
                index,
                compile_all(nodes),
                tuple(_key_part(f) for f in rule.join_of(index)),
                extras,
                required,
            )
            out.append((required_actions(nodes), target))
        return out
    target = _Target(
        rule.id,
        0,
        compile_all(rule.where),
        tuple(_key_part(f) for f in rule.group_by),
        extras,
        required,
    )
    return [(required_actions(rule.where), target)]


class Router:
    """Routes events for a fixed set of rules. Immutable; safe to share."""

    def __init__(self, rules: Iterable[RuleBase]) -> None:
        by_action: dict[str, list[_Target]] = {}
        wildcard: list[_Target] = []
        self.rule_ids: tuple[str, ...] = ()
        ids: list[str] = []
        for rule in rules:
            if not rule.enabled:
                continue
            ids.append(rule.id)
            for actions, target in _targets(rule):
                if actions is None:
                    wildcard.append(target)
                else:
                    for action in sorted(actions):
                        by_action.setdefault(action, []).append(target)
        self.rule_ids = tuple(ids)
        self._wildcard = tuple(wildcard)
        self._by_action = {a: (*ts, *wildcard) for a, ts in by_action.items()}
        self._base = tuple((p, compile_getter(p)) for p in _BASE_FIELDS)

    def route(
        self, event: NormalizedEvent, *, received_at: datetime | None = None
    ) -> list[RoutedEvent]:
        """The records to publish for ``event``: one per (rule, step, group key).

        ``received_at`` (the message's broker timestamp, say) caps the
        record's watermark clock; it never changes what is detected.
        """
        targets = self._by_action.get(event.action, self._wildcard)
        out: list[RoutedEvent] = []
        if not targets:
            return out
        time_us = -1
        clock_us = -1
        base: dict[str, Any] | None = None
        for target in targets:
            if not target.test(event):
                continue
            if target.required is not None and target.required(event) is None:
                continue
            names: list[tuple[str, str]] = []
            for part in target.key_parts:
                for name, get in part:
                    value = _as_key_value(get(event))
                    if value is not None:
                        names.append((name, value))
                        break
                else:
                    break
            else:
                if time_us < 0:
                    time_us = to_us(event.timestamp)
                    clock_us = time_us
                    if received_at is not None:
                        clock_us = min(time_us, to_us(received_at))
                    base = {}
                    for name, get in self._base:
                        value = get(event)
                        if value is not None:
                            base[name] = value
                assert base is not None
                fields = base
                if target.extras:
                    fields = dict(base)
                    for name, get in target.extras:
                        value = get(event)
                        if value is not None:
                            fields[name] = value
                key = target.rule_id + "|" + "|".join(escape_key_part(v) for _, v in names)
                out.append(
                    RoutedEvent(
                        target.rule_id,
                        key,
                        tuple(names),
                        time_us,
                        event.event_id,
                        event.organization_id,
                        target.step,
                        fields,
                        clock_us,
                    )
                )
        return out


def key_field_name(field: KeyField) -> str:
    return "|".join(field.first_of) if isinstance(field, FirstOf) else field
