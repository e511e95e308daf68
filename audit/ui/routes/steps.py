"""Lawful-request steps as forms, built from whatever step routes the API serves.

A step named by the workflow (``next_steps``: ``verify``, ``map_data``, ...)
is offered when the API's disclosures router has a route
``POST /v1/disclosures/{request_id}/<step>`` (or the step's first word).
The form's fields come from the route's body model; the console calls the
same route function, after the API's own rule for that route allowed the
principal.

Body fields become controls: text, a choice (Literal or Enum), yes/no (bool),
a comma-separated list, a date and time (read as UTC), and a nested model
(e.g. the limits of a narrowing review) becomes a group of such controls
whose names are dotted (``limits.user_ids``); an optional group is sent only
when one of its controls is filled. A field that is required but may be null
(``expires_at: Moment | None``) is sent as null when left empty. A step
whose body has a shape no control covers (a list of objects, a nested group
inside a group) is listed without a form.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args, get_origin

from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, NaiveDatetime
from starlette.datastructures import FormData

from audit.api.access import allowed, rule_for
from audit.api.principal import Principal
from audit.api.routers import disclosures as disclosures_api
from audit.ui.guard import text

PREFIX = "/v1/disclosures/{request_id}/"
_CALLABLE_WITH = frozenset({"request_id", "body", "principal", "services", "record", "now"})
_MOMENTS = (datetime, AwareDatetime, NaiveDatetime)
# Free text that is prose (reasons, notes, scope) gets a text area; names and
# references a line.
_PROSE = frozenset({"reason", "why", "note", "scope", "purpose", "rationale", "comment"})

Kind = Literal["text", "long_text", "choice", "list", "flag", "datetime"]


class Unformable(Exception):
    """A body field no form control can fill."""


@dataclass(frozen=True)
class Field:
    name: str  # the form control's name: dotted inside a group ("limits.user_ids")
    label: str
    kind: Kind
    required: bool  # the control must be filled
    choices: tuple[str, ...] = ()
    default: str = ""
    nullable: bool = False  # left empty, it is sent as null (the model requires the key)
    hint: str = ""


@dataclass(frozen=True)
class Group:
    """A nested body model: its fields, under one legend."""

    name: str
    label: str
    required: bool
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Step:
    name: str  # as the workflow names it
    path: str  # the API route's template
    route: APIRoute
    model: type[BaseModel]
    fields: tuple[Field, ...]
    groups: tuple[Group, ...] = ()

    @property
    def title(self) -> str:
        return self.route.summary or self.name.replace("_", " ").capitalize()

    def all_fields(self) -> Iterator[Field]:
        yield from self.fields
        for group in self.groups:
            yield from group.fields


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type inside Optional/Annotated, whether None is allowed)."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(get_args(annotation))
            if len(args) != 1:
                return annotation, optional
            annotation = args[0]
        else:
            return annotation, optional


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _field(name: str, info: Any, prefix: str = "") -> Field | None:
    """A form control for a body field; None: a nested model (see :func:`_group`)."""
    annotation, optional = _unwrap(info.annotation)
    must = info.is_required()
    required = must and not optional
    nullable = must and optional
    words = name.replace("_", " ")
    label = words.capitalize()
    hint = info.description or ""
    if nullable and hint.lower().startswith("none:"):
        hint = "left empty:" + hint[len("none:") :]  # null is what an empty control sends
    default = info.default if isinstance(info.default, str | int) else ""
    control = prefix + name
    origin = get_origin(annotation)
    if origin is Literal:
        choices = tuple(str(a) for a in get_args(annotation))
        return Field(control, label, "choice", required, choices, str(default), nullable, hint)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = tuple(str(m.value) for m in annotation)
        chosen = default.value if isinstance(default, enum.Enum) else str(default)
        return Field(control, label, "choice", required, choices, chosen, nullable, hint)
    if annotation is bool:
        chosen = {True: "yes", False: "no"}.get(info.default, "") if not must else ""
        return Field(control, label, "flag", required, ("yes", "no"), chosen, nullable, hint)
    if annotation in _MOMENTS:
        return Field(control, f"{label} (UTC)", "datetime", required, (), "", nullable, hint)
    if origin in (list, tuple, set, frozenset):
        inner = [_unwrap(a)[0] for a in get_args(annotation) if a is not Ellipsis]
        if any(_is_model(a) or a in _MOMENTS or get_origin(a) is not None for a in inner):
            raise Unformable(f"{control}: a list of {inner}")
        return Field(
            control, f"{label} (comma-separated)", "list", required, (), "", nullable, hint
        )
    if _is_model(annotation):
        return None
    if annotation not in (str, int, float):
        raise Unformable(f"{control}: {annotation}")
    kind: Kind = "long_text" if annotation is str and name in _PROSE else "text"
    return Field(control, label, kind, required, (), str(default), nullable, hint)


def _group(name: str, info: Any) -> Group:
    model, optional = _unwrap(info.annotation)
    fields: list[Field] = []
    for inner_name, inner in model.model_fields.items():
        found = _field(inner_name, inner, prefix=f"{name}.")
        if found is None:
            raise Unformable(f"{name}.{inner_name}: a group inside a group")
        fields.append(found)
    label = name.replace("_", " ").capitalize()
    if info.description:
        label = f"{label}: {info.description}"
    return Group(name, label, info.is_required() and not optional, tuple(fields))


def _body_model(route: APIRoute) -> type[BaseModel] | None:
    parameters = inspect.signature(route.endpoint).parameters
    if not set(parameters) <= _CALLABLE_WITH or "body" not in parameters:
        return None
    hints = typing.get_type_hints(route.endpoint, include_extras=True)
    model, _ = _unwrap(hints["body"])
    return model if _is_model(model) else None


def step_for(name: str, route: APIRoute) -> Step | None:
    """The form of one step route; None when its body is not a form's to fill."""
    model = _body_model(route)
    if model is None:
        return None
    fields: list[Field] = []
    groups: list[Group] = []
    try:
        for field_name, info in model.model_fields.items():
            form_field = _field(field_name, info)
            if form_field is None:
                groups.append(_group(field_name, info))
            else:
                fields.append(form_field)
    except Unformable:
        return None
    return Step(name, route.path, route, model, tuple(fields), tuple(groups))


def _step_routes() -> Iterator[APIRoute]:
    for route in disclosures_api.router.routes:
        if isinstance(route, APIRoute) and route.path.startswith(PREFIX):
            rest = route.path.removeprefix(PREFIX)
            if "/" not in rest and "{" not in rest and "POST" in (route.methods or ()):
                yield route


def find_step(name: str) -> Step | None:
    for candidate in dict.fromkeys((name, name.split("_", maxsplit=1)[0])):
        for route in _step_routes():
            if route.path == PREFIX + candidate:
                return step_for(name, route)
    return None


def served_steps() -> tuple[str, ...]:
    """The last path segment of every step route the API serves, in its order."""
    return tuple(route.path.removeprefix(PREFIX) for route in _step_routes())


def may_take(principal: Principal, step: Step) -> bool:
    """The API's own rule for the step's route."""
    return allowed(rule_for("POST", step.path), principal.roles)


def _value(field: Field, value: str) -> Any:
    if field.kind == "list":
        return [v.strip() for v in value.split(",") if v.strip()]
    if field.kind == "flag":
        return {"yes": True, "no": False}.get(value, value)
    if field.kind == "datetime":
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value  # the model says what is wrong with it
        # A datetime-local control sends no zone: the form says it is UTC.
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
    return value


def _values(fields: tuple[Field, ...], form: FormData, prefix: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in fields:
        value = text(form, field.name)
        key = field.name.removeprefix(prefix)
        if value:
            data[key] = _value(field, value)
        elif field.nullable:
            data[key] = None
        # else: left out, the model says whether it was needed
    return data


def body_from(step: Step, form: FormData) -> dict[str, Any]:
    """The step's body from a posted form (the model validates it)."""
    data = _values(step.fields, form)
    for group in step.groups:
        filled = {f.name for f in group.fields if text(form, f.name)}
        if filled or group.required:
            data[group.name] = _values(group.fields, form, prefix=f"{group.name}.")
    return data
