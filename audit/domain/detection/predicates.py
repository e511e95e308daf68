"""Predicates over contract fields: their rule-file model and their compilation.

A rule's ``where`` is a list of nodes that must all hold. A node is a
condition on one field, or ``any:`` / ``all:`` / ``not:`` around other nodes::

    where:
      - {field: event.action, in: [user.login, sso.login]}
      - {field: event.outcome, eq: success}
      - {field: source.geo.location, exists: true}
      - not: {field: elastra.resource.organization_id, eq: {field: organization.id}}

Operators: ``eq``, ``in``, ``gt``/``gte``/``lt``/``lte`` (numbers), ``exists``,
``prefix``; ``eq`` and the comparisons also take ``{field: other.field}`` to
compare two fields of the same event. When the event's value is a list
(``user.roles``) a condition holds if it holds for one element. A missing
field satisfies nothing but ``exists: false``.

Nodes are compiled once into closures over a :class:`NormalizedEvent`; nothing
from a rule file is ever evaluated as code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from audit.domain.event import NormalizedEvent

Getter = Callable[[NormalizedEvent], Any]
Test = Callable[[NormalizedEvent], bool]

FieldPath = Annotated[str, Field(pattern=r"^[@A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")]
Scalar = str | int | float | bool
Number = int | float

_OPERATORS = ("eq", "in_", "gt", "gte", "lt", "lte", "exists", "prefix")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class FieldRef(_Frozen):
    """The value of another field of the same event: ``{field: organization.id}``."""

    field: FieldPath


class Condition(_Frozen):
    """One operator applied to one field."""

    field: FieldPath
    eq: Scalar | FieldRef | None = None
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in", min_length=1)
    gt: Number | FieldRef | None = None
    gte: Number | FieldRef | None = None
    lt: Number | FieldRef | None = None
    lte: Number | FieldRef | None = None
    exists: bool | None = None
    prefix: str | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        given = [name for name in _OPERATORS if getattr(self, name) is not None]
        if len(given) != 1:
            names = ", ".join("in" if n == "in_" else n for n in _OPERATORS)
            raise ValueError(f"a condition needs exactly one operator of {names}")
        return self

    @property
    def operator(self) -> str:
        return next(name for name in _OPERATORS if getattr(self, name) is not None)


class Not(_Frozen):
    not_: PredicateNode = Field(alias="not")


class AnyOf(_Frozen):
    any: tuple[PredicateNode, ...] = Field(min_length=1)


class AllOf(_Frozen):
    all: tuple[PredicateNode, ...] = Field(min_length=1)


def _node_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        for kind in ("not", "any", "all"):
            if kind in value:
                return kind
        return "condition"
    kinds: dict[type, str] = {Not: "not", AnyOf: "any", AllOf: "all"}
    return kinds.get(type(value), "condition")


PredicateNode = Annotated[
    Annotated[Condition, Tag("condition")]
    | Annotated[Not, Tag("not")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[AllOf, Tag("all")],
    Discriminator(_node_kind),
]

Not.model_rebuild()
AnyOf.model_rebuild()
AllOf.model_rebuild()

# Fields that NormalizedEvent carries as attributes: read them without the
# nested walk.
_ATTRIBUTE_FIELDS: dict[str, str] = {
    "event.id": "event_id",
    "organization.id": "organization_id",
    "event.action": "action",
    "event.outcome": "outcome",
    "elastra.data_category": "data_category",
}


def compile_getter(path: str) -> Getter:
    """A fast reader of ``path`` on a NormalizedEvent (None when absent)."""
    attribute = _ATTRIBUTE_FIELDS.get(path)
    if attribute is not None:
        return attrgetter(attribute)
    parts = tuple(path.split("."))
    if len(parts) == 1:
        (only,) = parts
        return lambda event: event.document.get(only)
    if len(parts) == 2:
        first, second = parts

        def two(event: NormalizedEvent) -> Any:
            node = event.document.get(first)
            return node.get(second) if type(node) is dict else None

        return two
    if len(parts) == 3:
        first, second, third = parts

        def three(event: NormalizedEvent) -> Any:
            node = event.document.get(first)
            if type(node) is not dict:
                return None
            node = node.get(second)
            return node.get(third) if type(node) is dict else None

        return three

    def deep(event: NormalizedEvent) -> Any:
        node: Any = event.document
        for part in parts:
            if type(node) is not dict:
                return None
            node = node.get(part)
        return node

    return deep


def _compile_exists(path: str) -> Test | None:
    """A one-call presence test for a nested two- or three-part field."""
    if path in _ATTRIBUTE_FIELDS:
        return None
    parts = path.split(".")
    if len(parts) == 2:
        first, second = parts

        def two(event: NormalizedEvent) -> bool:
            node = event.document.get(first)
            return type(node) is dict and node.get(second) is not None

        return two
    if len(parts) == 3:
        first, second, third = parts

        def three(event: NormalizedEvent) -> bool:
            node = event.document.get(first)
            if type(node) is not dict:
                return False
            node = node.get(second)
            return type(node) is dict and node.get(third) is not None

        return three
    return None


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _same(left: Any, right: Any) -> bool:
    return left == right and (type(left) is bool) == (type(right) is bool)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _any_element(get: Getter, test: Callable[[Any], bool]) -> Test:
    def check(event: NormalizedEvent) -> bool:
        value = get(event)
        if value is None:
            return False
        if type(value) is list:
            return any(test(item) for item in value)
        return test(value)

    return check


def _compile_condition(cond: Condition) -> Test:
    get = compile_getter(cond.field)
    op = cond.operator
    if op == "exists":
        if cond.exists:
            return _compile_exists(cond.field) or (lambda event: get(event) is not None)
        return lambda event: get(event) is None
    if op == "in_":
        assert cond.in_ is not None
        strings = frozenset(v for v in cond.in_ if type(v) is str)
        others = tuple(v for v in cond.in_ if type(v) is not str)
        if not others:
            return _any_element(get, lambda v: type(v) is str and v in strings)
        return _any_element(
            get, lambda v: (type(v) is str and v in strings) or any(_same(v, o) for o in others)
        )
    if op == "prefix":
        start = cond.prefix
        assert start is not None
        return _any_element(get, lambda v: type(v) is str and v.startswith(start))
    literal = getattr(cond, op)
    if isinstance(literal, FieldRef):
        other = compile_getter(literal.field)
        if op == "eq":

            def equal_fields(event: NormalizedEvent) -> bool:
                left = get(event)
                return left is not None and _same(left, other(event))

            return equal_fields
        compare = _COMPARE[op]

        def compare_fields(event: NormalizedEvent) -> bool:
            left, right = get(event), other(event)
            return _is_number(left) and _is_number(right) and compare(left, right)

        return compare_fields
    if op == "eq":
        if type(literal) is str:

            def equal_string(event: NormalizedEvent) -> bool:
                value = get(event)
                if value == literal:
                    return True
                return type(value) is list and literal in value

            return equal_string
        return _any_element(get, lambda v: _same(v, literal))
    compare = _COMPARE[op]
    return _any_element(get, lambda v: _is_number(v) and compare(v, literal))


def compile_node(node: Condition | Not | AnyOf | AllOf) -> Test:
    if isinstance(node, Condition):
        return _compile_condition(node)
    if isinstance(node, Not):
        inner = compile_node(node.not_)
        return lambda event: not inner(event)
    if isinstance(node, AnyOf):
        tests = tuple(compile_node(n) for n in node.any)
        return lambda event: any(t(event) for t in tests)
    return compile_all(node.all)


def compile_all(nodes: tuple[Condition | Not | AnyOf | AllOf, ...]) -> Test:
    """All nodes must hold; the cheapest shapes for 1-3 nodes avoid a loop."""
    tests = tuple(compile_node(n) for n in nodes)
    if not tests:
        return lambda event: True
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda event: a(event) and b(event)
    if len(tests) == 3:
        a, b, c = tests
        return lambda event: a(event) and b(event) and c(event)
    return lambda event: all(t(event) for t in tests)


ValueSet = frozenset[str] | None
Node = Condition | Not | AnyOf | AllOf


def required_values(nodes: tuple[Node, ...], field: str) -> ValueSet:
    """The values of ``field`` (``event.action``, ``event.outcome``) without
    which ``nodes`` cannot all hold; None means any value may match.

    Used to index rules so that routing an event looks only at the rules
    that may concern it.
    """
    found: ValueSet = None
    for node in nodes:
        current = _node_values(node, field)
        if current is not None:
            found = current if found is None else found & current
    return found


def _literal_set(node: Condition, field: str) -> ValueSet:
    if node.field != field:
        return None
    if node.eq is not None and isinstance(node.eq, str):
        return frozenset({node.eq})
    if node.in_ is not None and all(isinstance(v, str) for v in node.in_):
        return frozenset(str(v) for v in node.in_)
    return None


def _node_values(node: Node, field: str) -> ValueSet:
    if isinstance(node, Condition):
        return _literal_set(node, field)
    if isinstance(node, AllOf):
        return required_values(node.all, field)
    if isinstance(node, AnyOf):
        branches = [_node_values(n, field) for n in node.any]
        if any(b is None for b in branches):
            return None
        return frozenset().union(*(b for b in branches if b is not None))
    return None


def without_indexed(nodes: tuple[Node, ...], fields: tuple[str, ...]) -> tuple[Node, ...]:
    """``nodes`` less the top-level ``eq``/``in`` conditions on ``fields``.

    Once events are looked up by the values :func:`required_values` gives,
    those conditions hold already and need not be tested again.
    """
    return tuple(
        node
        for node in nodes
        if not (isinstance(node, Condition) and any(_literal_set(node, f) for f in fields))
    )


def fields_read(nodes: tuple[Node, ...]) -> set[str]:
    """Every field a predicate reads (for documentation and validation)."""
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, Condition):
            out.add(node.field)
            for op in ("eq", "gt", "gte", "lt", "lte"):
                value = getattr(node, op)
                if isinstance(value, FieldRef):
                    out.add(value.field)
        elif isinstance(node, Not):
            out |= fields_read((node.not_,))
        elif isinstance(node, AnyOf):
            out |= fields_read(node.any)
        else:
            out |= fields_read(node.all)
    return out


__all__ = [
    "AllOf",
    "AnyOf",
    "Condition",
    "FieldRef",
    "Not",
    "PredicateNode",
    "compile_all",
    "compile_getter",
    "compile_node",
    "fields_read",
    "required_values",
    "without_indexed",
]
