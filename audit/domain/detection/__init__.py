"""Streaming detection: rules over events on event time, pure (no I/O, no clock).

Two halves, so that the runtime can re-key events between them:

- :class:`Router` (``route(event) -> list[RoutedEvent]``) turns an event into
  the records each rule needs, keyed ``rule_id|group key``;
- :class:`DetectionEngine` (``process(routed) -> list[Detection]``) keeps
  the windowed state per key, on a watermark of event time, with state that
  can be dumped and restored per key.

:func:`dry_run` does both in one process for a finite list of events.
"""

from __future__ import annotations

from audit.domain.detection.dryrun import dry_run
from audit.domain.detection.engine import DEFAULT_LATENESS, DetectionEngine
from audit.domain.detection.loader import (
    Problem,
    RuleFileError,
    parse_rule_text,
    parse_rule_texts,
)
from audit.domain.detection.routing import RoutedEvent, Router
from audit.domain.detection.rules import RULE_TYPES, RuleBase, register_rule_type, rule_from_dict

__all__ = [
    "DEFAULT_LATENESS",
    "RULE_TYPES",
    "DetectionEngine",
    "Problem",
    "RoutedEvent",
    "Router",
    "RuleBase",
    "RuleFileError",
    "dry_run",
    "parse_rule_text",
    "parse_rule_texts",
    "register_rule_type",
    "rule_from_dict",
]
