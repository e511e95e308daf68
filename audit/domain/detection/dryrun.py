"""Dry run: which detections rules raise on a finite set of events, no service."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from audit.domain.detection.engine import DEFAULT_LATENESS, DetectionEngine
from audit.domain.detection.record import Detection
from audit.domain.detection.routing import Router
from audit.domain.detection.rules import RuleBase
from audit.domain.event import NormalizedEvent


def dry_run(
    rules: Iterable[RuleBase],
    events: Iterable[NormalizedEvent],
    *,
    lateness: timedelta = DEFAULT_LATENESS,
) -> list[Detection]:
    """Route and evaluate ``events`` in event-time order; the final detections.

    Each detection appears once, in its last state, in the order it was
    first raised. Events are sorted by (time, event id) first, so nothing is
    late; what is still pending at the end is flushed.
    """
    rule_list = list(rules)
    router = Router(rule_list)
    engine = DetectionEngine(rule_list, lateness=lateness)
    found: dict[str, Detection] = {}
    for event in sorted(events, key=lambda e: (e.timestamp, e.event_id)):
        for routed in router.route(event):
            for detection in engine.process(routed):
                found[detection.id] = detection
    for detection in engine.flush():
        found[detection.id] = detection
    return list(found.values())
