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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from audit.domain.detection.predicates import (
    Condition,
    Getter,
    Node,
    compile_all,
    compile_getter,
    required_values,
    without_indexed,
)
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
from audit.domain.fields import ENTITY_FIELDS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

#: Fields copied into every routed record: the detection's entities
#: (``ENTITY_FIELDS``), the resource owner (affected organizations) and the
#: data category.
RESOURCE_ORG_FIELD = "elastra.resource.organization_id"
CATEGORY_FIELD = "elastra.data_category"
_BASE_FIELDS = (*ENTITY_FIELDS, RESOURCE_ORG_FIELD, CATEGORY_FIELD)
_BASE_PATHS = frozenset(_BASE_FIELDS)
_Names = tuple[tuple[str, str], ...]


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact)."""
    return (moment - EPOCH) // _US


def from_us(micros: int) -> datetime:
    # (positional: the keyword form costs 40% more, and this runs per record)
    return EPOCH + timedelta(0, 0, micros)


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
        """``to_dict`` as JSON (the times as ``_rfc3339`` writes them)."""
        return orjson.dumps(self._wire({}), option=orjson.OPT_UTC_Z)

    @staticmethod
    def array_json(records: Iterable[RoutedEvent]) -> bytes:
        """The JSON array of the records' ``to_json``, in one serialization.

        The ingest feed's hot path: byte for byte what joining each
        record's ``to_json`` with commas in brackets gives, without a
        ``bytes`` object, a ``dict`` copy of the projection and a time
        string built in Python per record.
        """
        times: dict[int, datetime] = {}
        return orjson.dumps([r._wire(times) for r in records], option=orjson.OPT_UTC_Z)

    def _wire(self, times: dict[int, datetime]) -> dict[str, Any]:
        """``to_dict`` for orjson: the times as aware datetimes (which
        ``OPT_UTC_Z`` writes exactly as ``_rfc3339`` does: seconds, the
        microseconds when not zero, ``Z``), memoized in ``times`` (a batch's
        records share their events' times); the projection uncopied."""
        moment = times.get(self.time_us)
        if moment is None:
            moment = times[self.time_us] = from_us(self.time_us)
        fields = self.fields
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "key": self.key,
            "group_key": dict(self.group_key),
            "time": moment,
            "event_id": self.event_id,
            "organization_id": self.organization_id,
            "step": self.step,
            "fields": fields if type(fields) is dict else dict(fields),
        }
        if self.clock_us != self.time_us:
            out["clock"] = from_us(self.clock_us)
        return out

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

    @classmethod
    def array_from_json(cls, data: bytes | str) -> list[RoutedEvent]:
        """The records of an :meth:`array_json` message: ``from_dict`` of each.

        The detector's hot path: a record whose values already have their
        types is built as it is, with its time strings parsed once per
        message (a message's records share their events' times); anything
        else goes through ``from_dict``, which converts or refuses it.
        """
        times: dict[str, int] = {}
        out: list[RoutedEvent] = []
        for item in orjson.loads(data):
            try:
                rule_id = item["rule_id"]
                key = item["key"]
                group = item["group_key"]
                text = item["time"]
                event_id = item["event_id"]
                organization_id = item["organization_id"]
                step = item.get("step", 0)
                fields = item.get("fields", {})
                clock = item.get("clock")
            except (KeyError, TypeError, AttributeError):
                out.append(cls.from_dict(item))
                continue
            group_key = tuple(group.items()) if type(group) is dict else None
            if (
                type(rule_id) is not str
                or type(key) is not str
                or type(event_id) is not str
                or type(organization_id) is not str
                or type(step) is not int
                or type(fields) is not dict
                or type(text) is not str
                or not (clock is None or type(clock) is str)
                or group_key is None
                or any(type(value) is not str for _, value in group_key)
            ):
                out.append(cls.from_dict(item))
                continue
            time_us = times.get(text)
            if time_us is None:
                time_us = times[text] = _parse_time(text)
            clock_us = time_us
            if clock:
                known = times.get(clock)
                clock_us = times[clock] = _parse_time(clock) if known is None else known
            out.append(
                _new_routed(
                    cls,
                    (
                        rule_id,
                        key,
                        group_key,
                        time_us,
                        event_id,
                        organization_id,
                        step,
                        fields,
                        clock_us,
                    ),
                )
            )
        return out


_KeyPart = tuple[tuple[str, Getter], ...]
#: RoutedEvent's constructor without the keyword-argument wrapper NamedTuple
#: adds (routing builds one per record: the hot path).
_new_routed = tuple.__new__


@dataclass(frozen=True, slots=True)
class _Target:
    rule_id: str
    step: int
    test: Any
    read_key: KeyReader
    extras: tuple[tuple[str, Getter], ...]
    required: Getter | None
    prefix: str
    #: A base field the predicate requires (``exists: true``), checked in
    #: the event's base fields rather than by walking the document again.
    needs: str | None = None
    #: Targets with the same extra fields share one projection per event.
    extras_id: int = 0
    #: The field the rule requires when it is one of ``extras``: the
    #: projection must hold it.
    required_extra: str | None = None


def _key_part(field: KeyField) -> _KeyPart:
    return tuple((path, compile_getter(path)) for path in key_field_paths(field))


KeyReader = Callable[[NormalizedEvent, "dict[str, Any]"], "tuple[tuple[str, str], ...] | None"]


def _key_reader(parts: tuple[_KeyPart, ...]) -> KeyReader:
    """Reads a group key: (name, value) per part, or None if a part is absent.

    The reader gets the event and its base fields (:func:`_base_fields`,
    read once per event): a part that is a base field is one dict lookup
    there instead of a walk of the document. Specialised for the common
    shapes (one or two plain fields).
    """
    if all(len(part) == 1 for part in parts) and len(parts) <= 2:
        if len(parts) == 1:
            ((name, get),) = parts[0]
            if name in _BASE_PATHS:

                def one_base(event: NormalizedEvent, base: dict[str, Any]) -> _Names | None:
                    value = base.get(name)
                    if type(value) is not str:
                        value = _as_key_value(value)
                    return ((name, value),) if value else None

                return one_base

            def one(event: NormalizedEvent, base: dict[str, Any]) -> _Names | None:
                value = get(event)
                if type(value) is not str:
                    value = _as_key_value(value)
                return ((name, value),) if value else None

            return one
        ((name1, get1),), ((name2, get2),) = parts
        if name2 in _BASE_PATHS:

            def two_base(event: NormalizedEvent, base: dict[str, Any]) -> _Names | None:
                first = get1(event)
                if type(first) is not str:
                    first = _as_key_value(first)
                if not first:
                    return None
                second = base.get(name2)
                if type(second) is not str:
                    second = _as_key_value(second)
                return ((name1, first), (name2, second)) if second else None

            return two_base

        def two(event: NormalizedEvent, base: dict[str, Any]) -> _Names | None:
            first = get1(event)
            if type(first) is not str:
                first = _as_key_value(first)
            if not first:
                return None
            second = get2(event)
            if type(second) is not str:
                second = _as_key_value(second)
            return ((name1, first), (name2, second)) if second else None

        return two

    def general(event: NormalizedEvent, base: dict[str, Any]) -> _Names | None:
        names: list[tuple[str, str]] = []
        for part in parts:
            for name, get in part:
                value = get(event)
                if type(value) is not str:
                    value = _as_key_value(value)
                if value:
                    names.append((name, value))
                    break
            else:
                return None
        return tuple(names)

    return general


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


_INDEXED = ("event.action", "event.outcome")
_OUTCOMES = ("success", "failure", "unknown")
_Index = tuple[frozenset[str] | None, frozenset[str] | None]


def _targets(rule: RuleBase) -> list[tuple[_Index, _Target]]:
    extras = tuple((p, compile_getter(p)) for p in projected_fields(rule))
    required: Getter | None = None
    required_field: str | None = None
    if isinstance(rule, SumRule | NewValueRule):
        required_field = rule.field
    elif isinstance(rule, GeoVelocityRule):
        required_field = rule.location_field
    if required_field is not None and required_field not in {name for name, _ in extras}:
        # (a required field among the extras is checked in the projection)
        required = compile_getter(required_field)
    if isinstance(rule, SequenceRule):
        steps = [((*rule.where, *step.where), rule.join_of(i)) for i, step in enumerate(rule.steps)]
    else:
        steps = [(rule.where, rule.group_by)]
    out: list[tuple[_Index, _Target]] = []
    for index, (nodes, key_fields) in enumerate(steps):
        rest = _without_required(without_indexed(nodes, _INDEXED), required_field)
        needs = next((f for f in _required_base_fields(rest)), None)
        if needs is not None:
            rest = _without_required(rest, needs)
        target = _Target(
            rule.id,
            index,
            compile_all(rest),
            _key_reader(tuple(_key_part(f) for f in key_fields)),
            extras,
            required,
            rule.id + "|",
            needs,
            _extras_id(tuple(name for name, _ in extras)),
            required_field if required is None else None,
        )
        wanted = (
            required_values(nodes, "event.action"),
            required_values(nodes, "event.outcome"),
        )
        out.append((wanted, target))
    return out


_EXTRAS_IDS: dict[tuple[str, ...], int] = {(): 0}


def _extras_id(names: tuple[str, ...]) -> int:
    """A small number per distinct list of extra fields (0: none)."""
    return _EXTRAS_IDS.setdefault(names, len(_EXTRAS_IDS))


def _required_base_fields(nodes: tuple[Node, ...]) -> list[str]:
    """Base fields on which ``nodes`` have a top-level ``exists: true``:
    the same test as a look-up in :func:`_base_fields`' result."""
    return [
        node.field
        for node in nodes
        if isinstance(node, Condition)
        and node.field in _BASE_PATHS
        and node.field != CATEGORY_FIELD
        and node.operator == "exists"
        and node.exists is True
    ]


def _without_required(nodes: tuple[Node, ...], field: str | None) -> tuple[Node, ...]:
    """``nodes`` less a top-level ``exists: true`` on the field the rule
    requires: the router's ``required`` check reads that field anyway."""
    if field is None:
        return nodes
    return tuple(
        node
        for node in nodes
        if not (
            isinstance(node, Condition)
            and node.field == field
            and node.operator == "exists"
            and node.exists is True
        )
    )


def _wants(wanted: _Index, action: str | None, outcome: str) -> bool:
    actions, outcomes = wanted
    if actions is not None and (action is None or action not in actions):
        return False
    return outcomes is None or outcome in outcomes


def _escaped(value: str) -> str:
    if "|" in value or "\\" in value:
        return escape_key_part(value)
    return value


def _base_fields(event: NormalizedEvent) -> dict[str, Any]:
    """The fields every routed record carries (see ENTITY_FIELDS), read inline
    (unrolled: this runs for every event)."""
    doc = event.document
    out: dict[str, Any] = {}
    node = doc.get("user")
    if type(node) is dict:
        value = node.get("id")
        if value is not None:
            out["user.id"] = value
        target = node.get("target")
        if type(target) is dict and (value := target.get("id")) is not None:
            out["user.target.id"] = value
    node = doc.get("source")
    if type(node) is dict and (value := node.get("ip")) is not None:
        out["source.ip"] = value
    node = doc.get("elastra")
    if type(node) is dict:
        inner = node.get("token")
        if type(inner) is dict and (value := inner.get("id")) is not None:
            out["elastra.token.id"] = value
        inner = node.get("api_key")
        if type(inner) is dict and (value := inner.get("id")) is not None:
            out["elastra.api_key.id"] = value
        inner = node.get("session")
        if type(inner) is dict and (value := inner.get("id")) is not None:
            out["elastra.session.id"] = value
        inner = node.get("resource")
        if type(inner) is dict and (value := inner.get("organization_id")) is not None:
            out[RESOURCE_ORG_FIELD] = value
    out[CATEGORY_FIELD] = event.data_category
    return out


class Router:
    """Routes events for a fixed set of rules. Immutable; safe to share.

    Targets (a rule, or a step of a sequence rule) are indexed by the
    ``event.action`` and ``event.outcome`` values their predicate requires,
    and those conditions are not tested again.
    """

    def __init__(self, rules: Iterable[RuleBase]) -> None:
        targets: list[tuple[_Index, _Target]] = []
        ids: list[str] = []
        for rule in rules:
            if rule.enabled:
                ids.append(rule.id)
                targets.extend(_targets(rule))
        self.rule_ids: tuple[str, ...] = tuple(ids)
        self._targets = tuple(targets)
        actions: set[str] = set()
        outcomes: set[str] = set(_OUTCOMES)
        for (wanted_actions, wanted_outcomes), _ in targets:
            actions |= wanted_actions or set()
            outcomes |= wanted_outcomes or set()
        self._index: dict[tuple[str, str], tuple[_Target, ...]] = {
            (a, o): self._select(a, o) for a in actions for o in outcomes
        }
        # actions outside every rule's list (forward-compatible ones, say)
        self._other: dict[str, tuple[_Target, ...]] = {o: self._select(None, o) for o in outcomes}

    def _select(self, action: str | None, outcome: str) -> tuple[_Target, ...]:
        return tuple(t for wanted, t in self._targets if _wants(wanted, action, outcome))

    def _unlisted(self, outcome: str) -> tuple[_Target, ...]:
        """Targets for an action no rule lists."""
        targets = self._other.get(outcome)
        return self._select(None, outcome) if targets is None else targets

    def route_events(self, events: Iterable[NormalizedEvent]) -> list[RoutedEvent]:
        """:meth:`route` of each event, in order, in one list (a batch)."""
        return route_each(self.route, events)

    def route(
        self, event: NormalizedEvent, *, received_at: datetime | None = None
    ) -> list[RoutedEvent]:
        """The records to publish for ``event``: one per (rule, step, group key).

        ``received_at`` (the message's broker timestamp, say) caps the
        record's watermark clock; it never changes what is detected.
        """
        targets = self._index.get((event.action, event.outcome))
        if targets is None:
            targets = self._unlisted(event.outcome)
        out: list[RoutedEvent] = []
        if not targets:
            return out
        time_us = -1
        clock_us = -1
        base = _base_fields(event)
        projections: dict[int, dict[str, Any]] | None = None
        for target in targets:
            needs = target.needs
            if needs is not None and base.get(needs) is None:
                continue
            if not target.test(event):
                continue
            if target.required is not None and target.required(event) is None:
                continue
            names = target.read_key(event, base)
            if names is None:
                continue
            if time_us < 0:
                time_us = (event.timestamp - EPOCH) // _US  # to_us, inline
                clock_us = time_us
                if received_at is not None:
                    clock_us = min(time_us, to_us(received_at))
            fields = base
            extras_id = target.extras_id
            if extras_id:
                # one projection per event for the targets that want the
                # same extra fields (never mutated once built)
                if projections is None:
                    projections = {}
                found = projections.get(extras_id)
                if found is None:
                    found = dict(base)
                    for name, get in target.extras:
                        value = get(event)
                        if value is not None:
                            found[name] = value
                    projections[extras_id] = found
                if target.required_extra is not None and target.required_extra not in found:
                    continue
                fields = found
            # _escaped, inline for one or two parts
            if len(names) == 1:
                value = names[0][1]
                key = target.prefix + (
                    escape_key_part(value) if "|" in value or "\\" in value else value
                )
            elif len(names) == 2:
                value, second = names[0][1], names[1][1]
                key = (
                    target.prefix
                    + (escape_key_part(value) if "|" in value or "\\" in value else value)
                    + "|"
                    + (escape_key_part(second) if "|" in second or "\\" in second else second)
                )
            else:
                key = target.prefix + "|".join([_escaped(v) for _, v in names])
            out.append(
                _new_routed(
                    RoutedEvent,
                    (
                        target.rule_id,
                        key,
                        names,
                        time_us,
                        event.event_id,
                        event.organization_id,
                        target.step,
                        fields,
                        clock_us,
                    ),
                )
            )
        return out


def route_each(
    route: Callable[[NormalizedEvent], list[RoutedEvent]], events: Iterable[NormalizedEvent]
) -> list[RoutedEvent]:
    """``route`` of each event, in order, in one list."""
    out: list[RoutedEvent] = []
    extend = out.extend
    for event in events:
        extend(route(event))
    return out


def key_field_name(field: KeyField) -> str:
    return "|".join(field.first_of) if isinstance(field, FirstOf) else field
