"""Lawful-request steps as forms, built from whatever step routes the API serves.

A step named by the workflow (``next_steps``: ``verify``, ``map_data``, ...)
is offered when the API's disclosures router has a route
``POST /v1/disclosures/{request_id}/<step>`` (or the step's first word).
The form's fields come from the route's body model; the console calls the
same route function, after the API's own rule for that route allowed the
principal. A step whose body needs a nested object is left to the API.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import FormData

from audit.api.access import allowed, rule_for
from audit.api.principal import Principal
from audit.api.routers import disclosures as disclosures_api
from audit.ui.guard import text

PREFIX = "/v1/disclosures/{request_id}/"
_CALLABLE_WITH = frozenset({"request_id", "body", "principal", "services", "record", "now"})


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: Literal["text", "choice", "list", "flag"]
    required: bool
    choices: tuple[str, ...] = ()
    default: str = ""


@dataclass(frozen=True)
class Step:
    name: str  # as the workflow names it
    path: str  # the API route's template
    route: APIRoute
    model: type[BaseModel]
    fields: tuple[Field, ...]


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


def _field(name: str, info: Any) -> Field | None:
    """A form field for a body field; None: a nested object (no form for it)."""
    annotation, optional = _unwrap(info.annotation)
    required = info.is_required() and not optional
    label = (info.description or name.replace("_", " ")).capitalize()
    default = info.default if isinstance(info.default, str | int) else ""
    origin = get_origin(annotation)
    if origin is Literal:
        choices = tuple(str(a) for a in get_args(annotation))
        return Field(name, label, "choice", required, choices, str(default))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = tuple(str(m.value) for m in annotation)
        return Field(name, label, "choice", required, choices)
    if annotation is bool:
        return Field(name, label, "flag", required, ("yes", "no"))
    if origin in (list, tuple):
        return Field(name, f"{label} (comma-separated)", "list", required)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return None
    return Field(name, label, "text", required, (), str(default))


def _body_model(route: APIRoute) -> type[BaseModel] | None:
    parameters = inspect.signature(route.endpoint).parameters
    if not set(parameters) <= _CALLABLE_WITH or "body" not in parameters:
        return None
    hints = typing.get_type_hints(route.endpoint, include_extras=True)
    model, _ = _unwrap(hints["body"])
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def find_step(name: str) -> Step | None:
    for candidate in dict.fromkeys((name, name.split("_", maxsplit=1)[0])):
        path = PREFIX + candidate
        for route in disclosures_api.router.routes:
            if not (isinstance(route, APIRoute) and route.path == path):
                continue
            if "POST" not in (route.methods or ()):
                continue
            model = _body_model(route)
            if model is None:
                return None
            fields = []
            for field_name, info in model.model_fields.items():
                form_field = _field(field_name, info)
                if form_field is None:
                    if info.is_required():
                        return None  # a nested object is needed: through the API
                    continue
                fields.append(form_field)
            return Step(name, path, route, model, tuple(fields))
    return None


def may_take(principal: Principal, step: Step) -> bool:
    """The API's own rule for the step's route."""
    return allowed(rule_for("POST", step.path), principal.roles)


def body_from(step: Step, form: FormData) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in step.fields:
        value = text(form, field.name)
        if not value:
            continue  # the model says whether it was needed
        if field.kind == "list":
            data[field.name] = [v.strip() for v in value.split(",") if v.strip()]
        elif field.kind == "flag":
            data[field.name] = value == "yes"
        else:
            data[field.name] = value
    return data
