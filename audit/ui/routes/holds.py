"""Legal holds: the list, placing a hold and releasing one, through the API's route
functions (the API's rule, scope check and audit event). A refused hold (an
invalid scope, an id taken, a release without reason) comes back to the page
as an alert, the posted form keeping its values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from audit.api.access_log import RequestRecord
from audit.api.principal import Principal
from audit.api.routers import holds as holds_api
from audit.api.schemas.holds import HoldIn, HoldListParams, HoldReleaseIn
from audit.ui.guard import Console, ConsoleState, Form, Record, Viewer, text
from audit.ui.routes.common import REFUSALS, after_post, build, filled, refusal_of, services_of

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    principal: Principal,
    record: RequestRecord,
    state: ConsoleState,
    refusal: tuple[int, str, str, dict[str, str]] | None = None,
) -> Response:
    services = services_of(request)
    params = build(HoldListParams, filled(request, "organization_id", "active"))
    listed = holds_api.list_holds(params, principal, services, record, services.clock())
    status, message, form_name, posted = refusal or (200, "", "", {})
    return state.pages.render(
        request,
        "holds.html",
        status=status,
        holds=listed.holds,
        now=services.clock(),
        done="" if refusal else request.query_params.get("done", ""),
        problem=message,
        refused_form=form_name,
        posted=posted,
    )


def _list(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in text(form, name).split(",") if v.strip()]


def _moment(form: FormData, name: str) -> str | None:
    """A datetime-local value (no zone) read as UTC, as the form says."""
    value = text(form, name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value  # the model says what is wrong with it
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _posted(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


@router.get("/ui/holds")
def holds(request: Request, principal: Viewer, record: Record, state: Console) -> Response:
    return _page(request, principal, record, state)


@router.post("/ui/holds")
def place(
    request: Request, form: Form, principal: Viewer, record: Record, state: Console
) -> Response:
    services = services_of(request)
    data: dict[str, Any] = {
        "organization_ids": _list(form, "organization_ids"),
        "user_ids": _list(form, "user_ids"),
        "start": _moment(form, "start"),
        "end": _moment(form, "end"),
        "reason": text(form, "reason"),
        "reference": text(form, "reference"),
        "expires_at": _moment(form, "expires_at"),
    }
    try:
        body = build(HoldIn, data)
        hold = holds_api.create_hold(body, principal, services, record, services.clock())
    except REFUSALS as err:
        refused = refusal_of(err)
        if refused is None:
            raise
        return _page(request, principal, record, state, (*refused, "place", _posted(form)))
    return after_post("/ui/holds", done=f"hold {hold.id} placed")


@router.post("/ui/holds/{hold_id}/release")
def release(
    hold_id: str,
    request: Request,
    form: Form,
    principal: Viewer,
    record: Record,
    state: Console,
) -> Response:
    services = services_of(request)
    try:
        body = build(HoldReleaseIn, {"reason": text(form, "reason")})
        holds_api.release_hold(hold_id, body, principal, services, record, services.clock())
    except REFUSALS as err:
        refused = refusal_of(err)
        if refused is None:
            raise
        return _page(request, principal, record, state, (*refused, hold_id, _posted(form)))
    return after_post("/ui/holds", done=f"hold {hold_id} released")
