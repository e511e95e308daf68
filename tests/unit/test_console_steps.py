"""The lawful-request step forms: form fields from a step route's body model, and back."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, Body
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, Field
from starlette.datastructures import FormData

from audit.api.schemas.disclosures import NdoIn, ReviewIn
from audit.ui.routes.steps import Step, _body_model, _field, body_from, find_step, step_for


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
    assert contact.label == "Contact" and contact.hint == "the contact used"
    assert confirmed is not None and confirmed.kind == "flag" and confirmed.choices == ("yes", "no")
    assert outcome is not None and outcome.choices == ("produced", "rejected")
    method = fields["method"]
    assert method is not None and method.kind == "choice" and method.default == "callback"
    assert not method.required
    user_ids, note = fields["user_ids"], fields["note"]
    assert user_ids is not None and user_ids.kind == "list"
    assert note is not None and not note.required
    assert fields["limits"] is None  # a nested object: a group of its own (below)


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


class Window(BaseModel):
    user_ids: list[str] = Field(default_factory=list)
    since: AwareDatetime | None = None


class NestedIn(BaseModel):
    reason: str = Field(min_length=1)
    until: AwareDatetime | None = Field(description="None: no fixed end")
    window: Window | None = None


def _nested_route() -> APIRoute:
    router = APIRouter()

    @router.post("/v1/disclosures/{request_id}/review")
    def review(request_id: str, body: Annotated[NestedIn, Body()]) -> None:
        return None

    route = router.routes[0]
    assert isinstance(route, APIRoute)
    return route


def test_nested_models_become_groups_and_times_are_utc() -> None:
    step = step_for("review", _nested_route())
    assert step is not None
    assert [f.name for f in step.fields] == ["reason", "until"]
    until = step.fields[1]
    assert until.kind == "datetime" and until.nullable and not until.required
    assert until.label == "Until (UTC)" and until.hint == "left empty: no fixed end"
    assert step.fields[0].kind == "long_text"  # a reason is prose
    (group,) = step.groups
    assert group.name == "window" and not group.required
    assert [f.name for f in group.fields] == ["window.user_ids", "window.since"]

    # Left empty: the nullable time is sent as null and the optional group not at all.
    empty = body_from(step, FormData([("reason", "narrow"), ("until", "")]))
    assert empty == {"reason": "narrow", "until": None}
    assert NestedIn.model_validate(empty).window is None

    # A datetime-local value (no zone) is read as UTC; a filled group is sent nested.
    filled = body_from(
        step,
        FormData(
            [
                ("reason", "narrow"),
                ("until", "2026-12-01T10:30"),
                ("window.user_ids", "u1,u2"),
                ("window.since", "2026-11-01T00:00:00"),
            ]
        ),
    )
    body = NestedIn.model_validate(filled)
    assert body.until == datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    assert body.window == Window(user_ids=["u1", "u2"], since=datetime(2026, 11, 1, tzinfo=UTC))


def test_every_step_the_api_serves_has_a_form_whose_bodies_validate() -> None:
    for name in ("verify", "review", "map_data", "redirect_to_customer", "ndo", "notice"):
        assert find_step(name) is not None, name
    for name in ("produce", "preserve", "renew", "close"):
        assert find_step(name) is not None, name
    review = find_step("review")
    assert review is not None and [g.name for g in review.groups] == ["limits"]
    body = body_from(
        review,
        FormData(
            [
                ("outcome", "narrow"),
                ("reason", "one user only"),
                ("limits.user_ids", "usr_1"),
                ("limits.time_from", "2026-11-01T00:00"),
            ]
        ),
    )
    parsed = ReviewIn.model_validate(body)
    assert parsed.limits is not None and parsed.limits.user_ids == ["usr_1"]
    ndo = find_step("ndo")
    assert ndo is not None
    assert (
        NdoIn.model_validate(body_from(ndo, FormData([("reference", "2705(b)")]))).expires_at
        is None
    )
