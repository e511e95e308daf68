"""Checklist templates: versioned YAML data, parsed into typed models.

A template lists items; each cites its legal basis, says when it applies
(``applies_when``), which answers a decision on it may give, when it counts
as done, and its deadline as one or more clocks (the earliest computable one
wins). Conditions and clock anchors are a small closed vocabulary:

conditions
  ``{all: [...]}``, ``{any: [...]}``, ``{not: {...}}``;
  ``{fact: NAME}`` (truthy), ``{fact: NAME, contains: X}``,
  ``{fact: NAME, equals: X}``, ``{fact: NAME, in: [...]}``;
  ``{decision: ITEM}`` (decided), ``{decision: ITEM, in: [...]}``;
  ``{org: ATTRIBUTE}`` (inside ``for_each: affected_organization``).
  ``{org}`` in an item reference is the organization of the current instance.
clock anchors (``from``)
  ``t0``, ``fact:NAME`` (a datetime fact), ``decision:ITEM`` (its effective
  or decision time), ``decision_expiry:ITEM`` (its ``expires_at``).
  ``business_days`` end at ``cutoff`` (local ``HH:MM``) when given, else 23:59:59.
delays (``delay_caps`` on the item named by another item's ``deferred_by``)
  an answer of the delay item postpones the deferred deadline to the delay's
  ``expires_at``, but never beyond ``days`` after the original deadline
  (``from: deadline``) or after the delay decision (``from: decision``);
  ``items`` limits a cap to some deferred items.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from audit.domain.data_files import (
    DataFileError,
    LineDict,
    describe_validation_error,
    parse_yaml,
)

ITEM_ID = r"^[a-z][a-z0-9_]*$"
ANCHOR = re.compile(r"^(t0|(fact|decision|decision_expiry):[A-Za-z0-9_.{}:]+)$")
_STRICT = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

Scalar = str | bool | int


class Condition(BaseModel):
    """Exactly one of all/any/not/fact/decision/org, with its operator."""

    model_config = _STRICT

    all_: tuple[Condition, ...] | None = Field(default=None, alias="all")
    any_: tuple[Condition, ...] | None = Field(default=None, alias="any")
    not_: Condition | None = Field(default=None, alias="not")
    fact: str | None = None
    decision: str | None = None
    org: str | None = None
    contains: str | None = None
    equals: Scalar | None = None
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        kinds = [
            name
            for name, value in (
                ("all", self.all_),
                ("any", self.any_),
                ("not", self.not_),
                ("fact", self.fact),
                ("decision", self.decision),
                ("org", self.org),
            )
            if value is not None
        ]
        if len(kinds) != 1:
            raise ValueError(
                "a condition has exactly one of all, any, not, fact, decision, org; "
                f"found {kinds or 'none'}"
            )
        operators = [
            n for n, v in (("contains", self.contains), ("equals", self.equals)) if v is not None
        ]
        if self.in_ is not None:
            operators.append("in")
        if kinds[0] in ("all", "any", "not", "org") and operators:
            raise ValueError(f"{kinds[0]} takes no operator, found {operators}")
        if kinds[0] == "decision" and (self.contains is not None or self.equals is not None):
            raise ValueError("decision takes only 'in'")
        if len(operators) > 1:
            raise ValueError(f"one operator per condition, found {operators}")
        return self

    def references(self) -> Iterator[str]:
        """Item ids this condition reads decisions of."""
        if self.decision is not None:
            yield self.decision
        for child in (*(self.all_ or ()), *(self.any_ or ())):
            yield from child.references()
        if self.not_ is not None:
            yield from self.not_.references()


class Clock(BaseModel):
    """A deadline: an anchor plus an offset, optionally only ``when`` a condition holds.

    ``policy_hours`` names a platform policy target (``processor_notice_hours``)
    whose value is added as hours.
    """

    model_config = _STRICT

    from_: str = Field(alias="from")
    hours: int = Field(default=0, ge=0)
    days: int = Field(default=0, ge=0)
    business_days: int = Field(default=0, ge=0)
    months: int = Field(default=0, ge=0)
    policy_hours: str | None = None
    cutoff: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    when: Condition | None = None

    @model_validator(mode="after")
    def _anchor(self) -> Clock:
        if not ANCHOR.match(self.from_):
            raise ValueError(
                f"clock anchor {self.from_!r} is not t0, fact:NAME, decision:ITEM "
                "or decision_expiry:ITEM"
            )
        return self

    def references(self) -> Iterator[str]:
        kind, _, ref = self.from_.partition(":")
        if kind in ("decision", "decision_expiry"):
            yield ref
        if self.when is not None:
            yield from self.when.references()


class DelayCap(BaseModel):
    """The longest a delay answer may postpone a deadline (see the module docstring)."""

    model_config = _STRICT

    answer: str
    days: int = Field(ge=1)
    from_: Literal["deadline", "decision"] = Field(alias="from")
    items: tuple[str, ...] = ()
    basis: str = Field(min_length=1)


class ItemTemplate(BaseModel):
    model_config = _STRICT

    id: str = Field(pattern=ITEM_ID)
    title: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    guidance: str = ""
    for_each: Literal["affected_organization"] | None = None
    applies_when: Condition | None = None
    answers: tuple[str, ...] = ()
    done_answers: tuple[str, ...] | None = None
    done_when: Condition | None = None
    deadline: tuple[Clock, ...] = ()
    late_requires_reasons: bool = False
    deferred_by: str | None = Field(
        default=None,
        description="item whose decision's expires_at postpones this deadline (a "
        "law-enforcement delay)",
    )
    delay_caps: tuple[DelayCap, ...] = ()

    @model_validator(mode="after")
    def _answers(self) -> ItemTemplate:
        unknown = set(self.done_answers or ()) - set(self.answers)
        if self.answers and unknown:
            raise ValueError(f"done_answers {sorted(unknown)} are not among answers")
        named = {cap.answer for cap in self.delay_caps}
        if self.answers and named - set(self.answers):
            raise ValueError(f"answers {sorted(named - set(self.answers))} are not among answers")
        return self

    def references(self) -> Iterator[str]:
        for cond in (self.applies_when, self.done_when):
            if cond is not None:
                yield from cond.references()
        for clock in self.deadline:
            yield from clock.references()
        if self.deferred_by is not None:
            yield self.deferred_by


class ChecklistTemplate(BaseModel):
    model_config = _STRICT

    id: str = Field(pattern=ITEM_ID)
    version: int = Field(ge=1)
    kind: Literal["incident", "lawful_request"]
    title: str
    items: tuple[ItemTemplate, ...] = Field(min_length=1)
    source: str = ""

    def item(self, item_id: str) -> ItemTemplate:
        """The template item of ``item_id`` (``processor_notice:org_1`` -> ``processor_notice``)."""
        base = item_id.split(":", 1)[0]
        for item in self.items:
            if item.id == base:
                return item
        raise KeyError(item_id)


def _base_ref(ref: str) -> str:
    return ref.split(":", 1)[0]


def parse_template(text: str, source: str) -> ChecklistTemplate:
    """Parse a template; every problem in the file is reported, each with ``source:line``."""
    raw = parse_yaml(text, source)
    if not isinstance(raw, dict):
        raise DataFileError(source, [f"{source}:1: expected a mapping at the top level"])
    problems: list[str] = []
    items_raw = raw.get("items")
    parsed: list[tuple[int, int, ItemTemplate]] = []  # (index, line, item)
    if isinstance(items_raw, list):
        for index, entry in enumerate(items_raw):
            try:
                item = ItemTemplate.model_validate(entry)
            except ValidationError as exc:
                problems += describe_validation_error(exc, entry, source, ("items", index))
                continue
            parsed.append((index, entry.line if isinstance(entry, LineDict) else 0, item))
        header = {k: v for k, v in raw.items() if k != "items"}
        header["items"] = [{"id": "placeholder", "title": "-", "legal_basis": "-"}]
    else:
        header = raw
    try:
        template = ChecklistTemplate.model_validate({**header, "source": source})
    except ValidationError as exc:
        problems += describe_validation_error(exc, raw, source)
        raise DataFileError(source, problems) from exc
    known = {item.id for _, _, item in parsed}
    seen: set[str] = set()
    for index, line, item in parsed:
        if item.id in seen:
            problems.append(f"{source}:{line}: items.{index}: duplicate item id {item.id!r}")
        seen.add(item.id)
        for ref in item.references():
            if _base_ref(ref) not in known:
                problems.append(
                    f"{source}:{line}: items.{index} ({item.id}): refers to unknown item {ref!r}"
                )
    if problems:
        raise DataFileError(source, problems)
    return template.model_copy(update={"items": tuple(item for _, _, item in parsed)})
