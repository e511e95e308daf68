"""Small helpers shared by the console's pages."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError

from audit.api.problems import ApiProblem, bad_request
from audit.errors import ConflictError, InvalidTransition
from audit.services.disclosures import AlreadyRecorded
from audit.services.holds import HoldExists, InvalidHold
from audit.services.incidents import BadInput
from audit.wiring.api import ApiServices

M = TypeVar("M", bound=BaseModel)


def services_of(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


def build(model: type[M], data: dict[str, Any]) -> M:
    """The API's input model from a form or query; a bad value answers 400 with its message."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in err.errors()
        )
        raise bad_request(problems) from None


def filled(request: Request, *names: str) -> dict[str, str]:
    """The query parameters named (all when none named) that have a value."""
    items = request.query_params
    return {k: v for k, v in items.items() if v.strip() and (not names or k in names)}


def after_post(url: str, **query: str) -> RedirectResponse:
    return RedirectResponse(url + (f"?{urlencode(query)}" if query else ""), status_code=303)


def chart_data(
    times: list[Any], windows: list[tuple[datetime, datetime, str]] | None = None, buckets: int = 48
) -> str:
    """Counts of events per time bucket (and the windows to shade) as JSON for the page script."""
    moments = sorted(
        datetime.fromisoformat(str(t).replace("Z", "+00:00")).timestamp() for t in times if t
    )
    spans = [(w[0].timestamp(), w[1].timestamp(), w[2]) for w in windows or []]
    edges = [m for m in moments] + [s for w in spans for s in w[:2]]
    if not edges:
        return json.dumps({"t": [], "n": [], "windows": []})
    start, end = min(edges), max(edges)
    width = max((end - start) / buckets, 1.0)
    counts = Counter(int((m - start) // width) for m in moments)
    slots = int((end - start) // width) + 1
    return json.dumps(
        {
            "t": [start + i * width for i in range(slots)],
            "n": [counts.get(i, 0) for i in range(slots)],
            "width": width,
            "windows": [[a, b, label] for a, b, label in spans],
        }
    )


def top(events: list[dict[str, Any]], path: str, size: int = 5) -> list[tuple[str, int]]:
    values: Counter[str] = Counter()
    for event in events:
        node: Any = event
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            values[str(node)] += 1
    return values.most_common(size)


REFUSALS = (
    ApiProblem,
    InvalidTransition,
    ConflictError,
    HoldExists,
    AlreadyRecorded,
    BadInput,
    InvalidHold,
)


def refusal_of(err: Exception, *, forbidden_in_place: bool = False) -> tuple[int, str] | None:
    """(status, message) of a refusal a form's page shows in place, as an alert next to
    the form that was posted; None: not one (the console's error page answers it).

    ``forbidden_in_place``: a 403 too, for a form whose 403 is about what was typed
    (organizations outside the principal's scope), not about the page itself."""
    if isinstance(err, ApiProblem):
        in_place = (400, 403, 409) if forbidden_in_place else (400, 409)
        return (err.status, err.detail or err.title) if err.status in in_place else None
    if isinstance(err, InvalidTransition | ConflictError | HoldExists | AlreadyRecorded):
        return 409, str(err)[:500]
    if isinstance(err, BadInput | InvalidHold):
        return 400, str(err)[:500]
    return None
