"""Jinja2 templates of the console and the filters they use (times with zones, units)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from audit.api.access import allowed, rule_for

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: Any) -> Markup:
    """A time in UTC, marked up so that the page script adds the viewer's local time."""
    moment = _moment(value)
    if moment is None:
        return Markup("<span>—</span>")
    utc = moment.astimezone(UTC)
    iso = utc.isoformat(timespec="seconds").replace("+00:00", "Z")
    text = utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" data-local="1">{}</time>').format(iso, text)


def count(value: Any, unit: str) -> str:
    if value is None:  # redacted for this viewer (issue 11: field-by-field redaction)
        return "withheld"
    number = int(value)
    return f"{number:,} {unit}{'' if number == 1 else 's'}"


def due(value: Any, now: datetime) -> str:
    """'overdue', 'due-soon' (within 24 hours) or '' for a deadline."""
    moment = _moment(value)
    if moment is None:
        return ""
    left = (moment - now).total_seconds()
    if left < 0:
        return "overdue"
    return "due-soon" if left < 86_400 else ""


def around(value: Any, days: int = 1) -> str:
    """``since=...&until=...`` (URL-encoded) for the days around a time: an entity
    link from an event shows that event's neighbourhood, not the last 24 hours."""
    moment = _moment(value)
    if moment is None:
        return ""
    span = timedelta(days=days)
    return urlencode({"since": (moment - span).isoformat(), "until": (moment + span).isoformat()})


def duration(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if days else f"{hours} h {minutes} min"


class Pages:
    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(when=when, count=count, due=due, duration=duration, around=around)

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        session = getattr(request.state, "ui_session", None)
        principal = getattr(request.state, "principal", None)

        def can(method: str, path: str) -> bool:
            return principal is not None and allowed(rule_for(method, path), principal.roles)

        html = self.env.get_template(template).render(
            request=request,
            session=session,
            principal=principal,
            csrf=session.csrf if session else "",
            can=can,
            escape=escape,
            **context,
        )
        return HTMLResponse(html, status_code=status)
