"""Building events and running rules in detection tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from audit.adapters.bundled_data import load_rule_dir
from audit.domain.detection import DetectionEngine, Router, RuleBase, dry_run
from audit.domain.detection.record import Detection
from audit.domain.event import NormalizedEvent

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
_ids = itertools.count()

PARIS = {"lat": 48.8566, "lon": 2.3522}
BERLIN = {"lat": 52.52, "lon": 13.405}
NEW_YORK = {"lat": 40.7128, "lon": -74.006}


def at(seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = doc
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def ev(
    action: str,
    outcome: str = "success",
    *,
    when: datetime = T0,
    org: str = "org_1",
    user: str | None = "usr_1",
    event_id: str | None = None,
    category: str = "authentication_security",
    **fields: Any,
) -> NormalizedEvent:
    """An event; extra fields by dotted name with ``__`` for dots
    (``source__ip="1.2.3.4"``)."""
    event_id = event_id or f"ev{next(_ids):08d}"
    doc: dict[str, Any] = {
        "@timestamp": when.isoformat().replace("+00:00", "Z"),
        "event": {"id": event_id, "action": action, "outcome": outcome, "provider": "test"},
        "organization": {"id": org},
        "elastra": {"data_category": category},
    }
    if user is not None:
        _put(doc, "user.id", user)
    for name, value in fields.items():
        if value is not None:
            _put(doc, name.replace("__", "."), value)
    return NormalizedEvent(event_id, org, action, outcome, when, category, doc)


def login_failure(when: datetime, *, reason: str = "bad_password", **kw: Any) -> NormalizedEvent:
    return ev("user.login", "failure", when=when, event__reason=reason, **kw)


@cache
def pack() -> dict[str, RuleBase]:
    return {rule.id: rule for rule in load_rule_dir()}


def detect(rule_id: str, events: Iterable[NormalizedEvent]) -> list[Detection]:
    return dry_run([pack()[rule_id]], events)


def detect_all(events: Iterable[NormalizedEvent]) -> list[Detection]:
    return dry_run(pack().values(), events)


def detect_arrival(
    rule: RuleBase, events: Iterable[NormalizedEvent], lateness: timedelta
) -> list[Detection]:
    """One rule through the router and the engine, events in the order given
    (arrival order), flushed at the end; each detection once, as finally
    updated. No event may have been too late for the engine."""
    router, engine = Router([rule]), DetectionEngine([rule], lateness=lateness)
    found: dict[str, Detection] = {}
    for event in events:
        for routed in router.route(event):
            for detection in engine.process(routed):
                found[detection.id] = detection
    for detection in engine.flush():
        found[detection.id] = detection
    assert engine.late_events == 0
    return list(found.values())
