"""The lawful-request step forms: form fields from a step route's body model, and back."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, Body
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.datastructures import FormData

from audit.ui.routes.steps import Step, _body_model, _field, body_from


class Outcome(StrEnum):
    PRODUCED = "produced"
    REJECTED = "rejected"


class Limits(BaseModel):
    user_ids: list[str] = Field(default_factory=list)


class StepIn(BaseModel):
    contact: str = Field(min_length=1, description="the contact used")
    confirmed: bool
    outcome: Outcome
    method: Literal["callback", "in_person"] = "callback"
    user_ids: list[str] = Field(default_factory=list)
    note: str | None = None
    limits: Limits | None = None


def _route() -> APIRoute:
    router = APIRouter()

    @router.post("/v1/disclosures/{request_id}/verify")
    def verify(request_id: str, body: Annotated[StepIn, Body()]) -> None:
        return None

    route = router.routes[0]
    assert isinstance(route, APIRoute)
    return route


def test_form_fields_follow_the_body_model() -> None:
    fields = {name: _field(name, info) for name, info in StepIn.model_fields.items()}
    contact, confirmed, outcome = fields["contact"], fields["confirmed"], fields["outcome"]
    assert contact is not None and contact.kind == "text" and contact.required
    assert contact.label == "The contact used"
    assert confirmed is not None and confirmed.kind == "flag" and confirmed.choices == ("yes", "no")
    assert outcome is not None and outcome.choices == ("produced", "rejected")
    method = fields["method"]
    assert method is not None and method.kind == "choice" and method.default == "callback"
    assert not method.required
    user_ids, note = fields["user_ids"], fields["note"]
    assert user_ids is not None and user_ids.kind == "list"
    assert note is not None and not note.required
    assert fields["limits"] is None  # a nested object: left to the API


def test_the_route_body_model_is_found_and_a_form_becomes_its_body() -> None:
    route = _route()
    assert _body_model(route) is StepIn
    fields = tuple(
        f for f in (_field(n, i) for n, i in StepIn.model_fields.items()) if f is not None
    )
    step = Step("verify", route.path, route, StepIn, fields)
    form = FormData(
        [
            ("contact", " +1 555 0100 "),
            ("confirmed", "yes"),
            ("outcome", "produced"),
            ("user_ids", "u1, u2,"),
            ("note", ""),
        ]
    )
    data = body_from(step, form)
    assert data == {
        "contact": "+1 555 0100",
        "confirmed": True,
        "outcome": "produced",
        "user_ids": ["u1", "u2"],
    }
    body = StepIn.model_validate(data)
    assert body.method == "callback" and body.note is None
