"""Per rule type: what a key's window holds and when it fires.

Monotone rule types (see ``RuleBase.monotone``) get each event as it
arrives, in any order: an event older than the newest of its window is
inserted at its place in event time, so the window is what it would be had
the events come in order. The non-monotone type (new_value) gets its events
in event-time order (the engine holds them back until the watermark
passes). ``lookback_us`` is how far before a key's newest event the
evaluator still looks; ``reach_us`` how far before it an event arriving
out of order still meets every event it could fire with: the engine sends
older events to the key's late lane. ``apply`` gets the key's data, the
event and whether the key's open detection still suppresses; it returns the
events that make (or, when suppressed, extend) a detection, or None.

Common semantics of the windowed types (threshold, value_count, sum,
sequence): the condition is judged on windows of width ``window`` ending at
an event: an event at ``t`` sees those at ``t - window`` or later, up to
itself. A key fires when some such window holds, whatever the order its
events arrived in within the allowed lateness: that is what makes a stream
reshuffled within the lateness raise detections for the same (rule, key)
pairs (issue 12, determinism). So that it can:

* the evaluator keeps a key's events back to ``newest - window - lateness``
  (``lateness_us``, the engine's): the trailing window ``[newest - window,
  newest]``, which alone carries the aggregates (counts per distinct value,
  the sum), and behind it one lateness of older events (``Window.older``),
  there only for the events still to come out of order. Dropping them at
  ``newest - window``, as before, lost detections: e0 at 0 s, e2 at 31 s,
  then e1 at 0 s arriving after e2 never met e0 (window 30 s);
* in event-time order (the new event is the newest, the hot path) only the
  window ending at the new event can newly hold: it is the trailing window,
  checked from its aggregates as before, so in-order detections are
  unchanged;
* an event inserted out of order belongs to every window ending at an event
  from it to ``window`` after it: each is checked, oldest first (recomputed
  from the kept events), so the first window that holds fires, as it would
  have in event-time order. A bound comes first: when the condition does
  not hold even on all the kept events within one width of the event, it
  is put in place unchecked (``_Windowed._could_hold``), so a key's steady
  traffic arriving slightly out of order does not cost its whole window.

When the condition holds, the window's events become the detection and the
key's window is emptied (the later events its suppression covers extend
it); while the detection suppresses (``suppression`` from its first event)
every further routed event extends it and is not windowed; after that, a new
detection needs the condition to hold again on new events. ``idle`` is given
at most the watermark: an event still to come within the lateness is not
older than that, so nothing before ``watermark - window`` can share a window
with it, and that is what it forgets.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Protocol

from audit.domain.detection.routing import RoutedEvent
from audit.domain.detection.rules import (
    FirstOf,
    GeoVelocityRule,
    KeyField,
    MatchRule,
    NewValueRule,
    RuleBase,
    SequenceRule,
    SumRule,
    ThresholdRule,
    ValueCountRule,
    WindowedRule,
)
from audit.domain.detection.state import DUMPED_FROM, dump_event, load_event

#: The event of a geo_velocity (event, location) pair: in C, since a
#: write-out of state takes every recent event of every changed key.
_kept_event = itemgetter(0)

_SECOND_US = 1_000_000
_DAY_US = 86_400 * _SECOND_US


def _us(rule_value: Any) -> int:
    return int(rule_value.total_seconds() * _SECOND_US)


def event_value(event: RoutedEvent, path: str) -> Any:
    if path == "organization.id":
        return event.organization_id
    return event.fields.get(path)


def _key_value(event: RoutedEvent, key_field: KeyField) -> str | None:
    paths = key_field.first_of if isinstance(key_field, FirstOf) else (key_field,)
    for path in paths:
        value = event_value(event, path)
        if value is not None and not isinstance(value, dict | list):
            return str(value)
    return None


def distinct_value(event: RoutedEvent, fields: tuple[KeyField, ...]) -> str | None:
    """The value (tuple of fields joined) counted by a distinct count, or None."""
    if len(fields) == 1:
        return _key_value(event, fields[0])
    parts: list[str] = []
    for key_field in fields:
        value = _key_value(event, key_field)
        if value is None:
            return None
        parts.append(value)
    return "\x1f".join(parts)


class Evaluator(Protocol):
    suppress_us: int
    lookback_us: int
    monotone: bool
    #: Whether ``apply`` may keep the events it is given (in its window).
    keeps_events: bool

    @property
    def reach_us(self) -> int:
        """How far before a key's newest event an event arriving out of order
        still meets every event it could make a detection with; the engine
        sends older ones to the key's late lane."""

    @property
    def held_span_us(self) -> int:
        """How far before a key's newest event the events of :meth:`sequences`
        reach (what a changelog's ring of segments must span)."""

    @property
    def rule(self) -> RuleBase: ...

    def new_data(self) -> Any: ...

    def apply(self, data: Any, event: RoutedEvent, suppressed: bool) -> list[RoutedEvent] | None:
        """Events making or extending a detection, or None."""

    def idle(self, data: Any, now_us: int) -> bool:
        """Forget what is older than the rule looks back from ``now_us``; True if empty."""

    def snapshot(self, data: Any) -> Any:
        """What :meth:`dump` needs of ``data``, safe from later changes to it:
        taken on the detector's thread, dumped on another (shallow: held
        events are immutable)."""

    def dump(self, snapshot: Any) -> Any:
        """A :meth:`snapshot` as JSON-ready values."""

    def load(self, raw: Any, rebuild: Any) -> Any: ...

    def sequences(self, snapshot: Any) -> tuple[Any, list[tuple[RoutedEvent, ...]]]:
        """A :meth:`snapshot` split for a changelog that writes held events in
        time segments: the rest (JSON-ready) and the held events, as lists
        in event-time order (none for a type that holds no events)."""

    def raw_of_sequences(self, rest: Any, sequences: list[list[Any]]) -> Any:
        """What :meth:`dump` gives, from :meth:`sequences`' rest and its lists
        of dumped events (``e[DUMPED_FROM:]``): :meth:`load` reads it."""

    def contains(self, data: Any, event: RoutedEvent) -> bool: ...

    def held(self, data: Any) -> int:
        """How many entries ``data`` keeps: its events (new_value: the values
        of its history); what the key's memory grows with."""


class _Base:
    #: How far before the newest event of a key the rule still looks.
    lookback_us = 0
    keeps_events = True

    def __init__(self, rule: RuleBase, lateness_us: int = 0) -> None:
        self.rule = rule
        self.suppress_us = _us(rule.suppression)
        self.monotone = rule.monotone
        self.lateness_us = lateness_us

    @property
    def reach_us(self) -> int:
        return self.lookback_us

    @property
    def held_span_us(self) -> int:
        # what keeps events for the out-of-order ones (geo_velocity's recent)
        return self.lateness_us

    def contains(self, data: Any, event: RoutedEvent) -> bool:
        """Whether ``event`` (id and step) is held in ``data`` already."""
        return False

    def held(self, data: Any) -> int:
        return 0

    def sequences(self, snapshot: Any) -> tuple[Any, list[tuple[RoutedEvent, ...]]]:
        return self.dump(snapshot), []  # type: ignore[attr-defined]

    def raw_of_sequences(self, rest: Any, sequences: list[list[Any]]) -> Any:
        return rest


def _insert(events: deque[RoutedEvent], event: RoutedEvent) -> int:
    """Put ``event`` at its place in (time, id, step) order; returns the index."""
    if not events or events[-1].time_us < event.time_us:
        events.append(event)
        return len(events) - 1
    position = (event.time_us, event.event_id, event.step)
    index = len(events)
    while index > 0:
        other = events[index - 1]
        if (other.time_us, other.event_id, other.step) <= position:
            break
        index -= 1
    events.insert(index, event)
    return index


def _held(events: Any, event: RoutedEvent) -> bool:
    """Whether ``events`` (in (time, id, step) order) hold ``event``.

    Read from the newest back to the event's time: an event checked here
    arrived out of order, usually a moment behind the newest, and a key's
    window can hold thousands of events (session.hijack: 30 minutes of a
    session), so a scan of all of them per such event grew with the window.
    """
    time_us, event_id, step = event.time_us, event.event_id, event.step
    for other in reversed(events):
        if other.time_us < time_us:
            return False
        if other.event_id == event_id and other.step == step:
            return True
    return False


class MatchEvaluator(_Base):
    keeps_events = False

    def new_data(self) -> Any:
        return None

    def apply(self, data: Any, event: RoutedEvent, suppressed: bool) -> list[RoutedEvent] | None:
        return [event]

    def idle(self, data: Any, now_us: int) -> bool:
        return True

    def snapshot(self, data: Any) -> Any:
        return None

    def dump(self, snapshot: Any) -> Any:
        return None

    def load(self, raw: Any, rebuild: Any) -> Any:
        return None


@dataclass(slots=True)
class Window:
    #: The trailing window: the events of the last ``window`` before the
    #: newest (the aggregates below are over these only).
    events: deque[RoutedEvent] = field(default_factory=deque)
    counts: list[dict[str, int]] = field(default_factory=list)
    #: per event, beside it: the values a distinct count reads (a tuple, or
    #: the bare value when the rule has one count)
    values: deque[Any] = field(default_factory=deque)
    total: float = 0
    #: Events behind the trailing window, kept one allowed lateness more
    #: (back to ``newest - window - lateness``) for the events that arrive
    #: out of order; None until an event leaves the trailing window (most
    #: keys never need it).
    older: deque[RoutedEvent] | None = None


class _Windowed(_Base):
    """Shared window bookkeeping; subclasses add/remove and test the condition.

    In event-time order (the new event is the newest) only the window ending
    at the new event can newly hold: it is the trailing window, whose
    aggregates are kept up to date on append. An event inserted out of order
    changes every window ending at an event from it to ``window`` after it:
    :meth:`_apply_unordered` scans those (rare: recomputed from the retained
    events) and fires on the first that holds, so the answer is the one the
    events would have given in event-time order.
    """

    rule: WindowedRule
    #: False: every out-of-order event takes the full scan (the reference
    #: the bound is tested against).
    bounded = True

    def __init__(self, rule: WindowedRule, lateness_us: int = 0) -> None:
        super().__init__(rule, lateness_us)
        self.window_us = self.lookback_us = _us(rule.window)

    @property
    def reach_us(self) -> int:
        return self.window_us + self.lateness_us

    @property
    def held_span_us(self) -> int:
        return self.reach_us

    def new_data(self) -> Window:
        return Window()

    def contains(self, data: Window, event: RoutedEvent) -> bool:
        return _held(data.events, event) or (data.older is not None and _held(data.older, event))

    def held(self, data: Window) -> int:
        return len(data.events) + len(data.older or ())

    def _added(self, data: Window, event: RoutedEvent) -> None:
        pass

    def _removed(self, data: Window, event: RoutedEvent) -> None:
        pass

    def _holds(self, data: Window) -> bool:
        raise NotImplementedError

    def _clear(self, data: Window) -> None:
        data.events.clear()
        data.values.clear()
        data.total = 0
        data.older = None
        for counts in data.counts:
            counts.clear()

    def _retire(self, data: Window, low_us: int) -> None:
        """Move the trailing window's events before ``low_us`` behind it;
        forget those one lateness older still."""
        events = data.events
        if events and events[0].time_us < low_us:
            older = data.older
            if older is None:
                older = data.older = deque()
            while events and events[0].time_us < low_us:
                event = events.popleft()
                self._removed(data, event)
                older.append(event)
        older = data.older
        if older:
            low_us -= self.lateness_us
            while older and older[0].time_us < low_us:
                older.popleft()

    def _rebuild(self, data: Window, items: list[RoutedEvent]) -> None:
        """``data`` holding ``items`` (in event-time order) and nothing else."""
        self._clear(data)
        if not items:
            return
        low = items[-1].time_us - self.window_us
        first = 0
        while items[first].time_us < low:
            first += 1
        if first:
            keep = low - self.lateness_us
            older = deque(e for e in items[:first] if e.time_us >= keep)
            data.older = older or None
        events = data.events
        for event in items[first:]:
            events.append(event)
            self._added(data, event)

    def _bound_holds(self, data: Window, event: RoutedEvent, span: list[RoutedEvent]) -> bool:
        """Whether the condition holds on the trailing window's aggregates
        plus ``span`` and ``event``: an upper bound of every window the
        event belongs to (a monotone condition on a superset of its events)."""
        raise NotImplementedError

    def _could_hold(self, data: Window, event: RoutedEvent) -> bool:
        """Whether some window the out-of-order ``event`` belongs to could
        hold once it is in, judged without the scan.

        Each such window (ending at an event from ``event`` to ``window``
        after it) lies within ``[t - window, t + window]``, and every kept
        event of that span is in the trailing window or in the part of the
        older events from ``t - window`` on. The conditions are monotone, so
        if they do not hold on that superset, with the event, no window can.
        Events arriving out of order are usually a moment behind the newest,
        so the older part read here is short; the trailing window is read
        through its aggregates. That keeps the common case (a key's steady
        traffic, shuffled by its producers) from costing the whole window.
        """
        low = event.time_us - self.window_us
        span: list[RoutedEvent] = []
        if data.older:
            for other in reversed(data.older):
                if other.time_us < low:
                    break
                span.append(other)
        return self._bound_holds(data, event, span)

    def _insert_quiet(self, data: Window, event: RoutedEvent) -> None:
        """Put an out-of-order ``event`` where :meth:`_rebuild` of all the
        kept events and it would: nothing fires, the rest stays in place."""
        low = data.events[-1].time_us - self.window_us
        if event.time_us >= low:
            index = _insert(data.events, event)
            self._inserted(data, index, event)
            return
        if event.time_us < low - self.lateness_us:
            return  # as _rebuild: behind the lateness kept for older events
        if data.older is None:
            data.older = deque()
        _insert(data.older, event)

    def _inserted(self, data: Window, index: int, event: RoutedEvent) -> None:
        """The aggregates of the trailing window, ``event`` put at ``index``."""
        self._added(data, event)

    def _apply_unordered(self, data: Window, event: RoutedEvent) -> list[RoutedEvent] | None:
        """An event older than the newest: check every window (of width
        ``window``, ending at an event) it belongs to, oldest first."""
        if self.bounded and not self._could_hold(data, event):
            self._insert_quiet(data, event)
            return None
        return self._scan_unordered(data, event)

    def _scan_unordered(self, data: Window, event: RoutedEvent) -> list[RoutedEvent] | None:
        items = list(data.older or ())
        items.extend(data.events)
        position = (event.time_us, event.event_id, event.step)
        index = len(items)
        while index > 0:
            other = items[index - 1]
            if (other.time_us, other.event_id, other.step) <= position:
                break
            index -= 1
        items.insert(index, event)
        width = self.window_us
        probe = self.new_data()  # the aggregates of the window being checked
        low = 0
        while items[low].time_us < event.time_us - width:
            low += 1
        for before in items[low:index]:
            probe.events.append(before)
            self._added(probe, before)
        last = event.time_us + width
        for end in range(index, len(items)):
            current = items[end]
            if current.time_us > last:
                break
            probe.events.append(current)
            self._added(probe, current)
            while probe.events[0].time_us < current.time_us - width:
                self._removed(probe, probe.events.popleft())
            if self._holds(probe):
                fired = list(probe.events)
                # As in event-time order: the later events the detection's
                # suppression covers extend it; the rest are windowed anew.
                until = fired[0].time_us + self.suppress_us
                rest = items[end + 1 :]
                fired.extend(e for e in rest if e.time_us < until)
                self._rebuild(data, [e for e in rest if e.time_us >= until])
                return fired
        self._rebuild(data, items)
        return None

    def apply(self, data: Window, event: RoutedEvent, suppressed: bool) -> list[RoutedEvent] | None:
        if suppressed:
            return [event]
        events = data.events
        if events and events[-1].time_us > event.time_us:
            return self._apply_unordered(data, event)
        events.append(event)
        self._added(data, event)
        self._retire(data, event.time_us - self.window_us)
        if not self._holds(data):
            return None
        fired = list(data.events)
        self._clear(data)
        return fired

    def idle(self, data: Window, now_us: int) -> bool:
        # ``now_us`` is at most the watermark: an event still to come within
        # the lateness is not older than it, so it can share a window with
        # nothing before ``now_us - window``.
        low = now_us - self.window_us
        older = data.older
        if older is not None:
            while older and older[0].time_us < low:
                older.popleft()
            if not older:
                data.older = None
        events = data.events
        while events and events[0].time_us < low:
            self._removed(data, events.popleft())
        return not events and data.older is None

    def snapshot(self, data: Window) -> tuple[tuple[RoutedEvent, ...], ...]:
        return (tuple(data.older or ()), tuple(data.events))

    def dump(self, snapshot: tuple[tuple[RoutedEvent, ...], ...]) -> Any:
        # One list in event-time order, the older events first: the layout
        # written before they were kept (the trailing window alone) loads
        # the same way.
        # (dump_event inline: this runs for every event of a changed window)
        start = DUMPED_FROM
        older, events = snapshot
        dumped = [e[start:] for e in older]
        dumped.extend([e[start:] for e in events])
        return dumped

    def load(self, raw: Any, rebuild: Any) -> Window:
        data = self.new_data()
        self._rebuild(data, [rebuild(item) for item in raw])
        return data

    def sequences(
        self, snapshot: tuple[tuple[RoutedEvent, ...], ...]
    ) -> tuple[Any, list[tuple[RoutedEvent, ...]]]:
        # one sequence: events move from the trailing window to the older
        # ones as time passes, which must not change what was written
        older, events = snapshot
        return None, [older + events if older else events]

    def raw_of_sequences(self, rest: Any, sequences: list[list[Any]]) -> Any:
        return sequences[0]


class ThresholdEvaluator(_Windowed):
    rule: ThresholdRule

    def __init__(self, rule: ThresholdRule, lateness_us: int = 0) -> None:
        super().__init__(rule, lateness_us)
        self.threshold = rule.threshold

    def apply(self, data: Window, event: RoutedEvent, suppressed: bool) -> list[RoutedEvent] | None:
        # the generic _Windowed.apply, inlined: this is the hot path
        if suppressed:
            return [event]
        events = data.events
        if events and events[-1].time_us > event.time_us:
            return self._apply_unordered(data, event)
        events.append(event)
        low = event.time_us - self.window_us
        older = data.older
        if events[0].time_us < low:
            if older is None:
                older = data.older = deque()
            while events[0].time_us < low:
                older.append(events.popleft())
        if older:
            low -= self.lateness_us
            while older and older[0].time_us < low:
                older.popleft()
        if len(events) < self.threshold:
            return None
        fired = list(events)
        events.clear()
        data.older = None
        return fired

    def _holds(self, data: Window) -> bool:
        return len(data.events) >= self.rule.threshold

    def _bound_holds(self, data: Window, event: RoutedEvent, span: list[RoutedEvent]) -> bool:
        return len(data.events) + len(span) + 1 >= self.threshold


Extractor = Callable[[RoutedEvent], "str | None"]


def _extractor(fields: tuple[KeyField, ...]) -> Extractor:
    """A fast reader of a distinct count's value (one plain field: one dict get)."""
    if len(fields) == 1 and isinstance(fields[0], str) and fields[0] != "organization.id":
        path = fields[0]

        def one(event: RoutedEvent) -> str | None:
            value = event.fields.get(path)
            if type(value) is str or value is None:
                return value
            return None if isinstance(value, dict | list) else str(value)

        return one
    return lambda event: distinct_value(event, fields)


class ValueCountEvaluator(_Windowed):
    """Per distinct count: occurrences of each value in the trailing window;
    the values of each of its events are kept beside it (``Window.values``)."""

    rule: ValueCountRule

    def __init__(self, rule: ValueCountRule, lateness_us: int = 0) -> None:
        super().__init__(rule, lateness_us)
        self.extractors = tuple(_extractor(spec.fields) for spec in rule.distinct)
        self.minimums = tuple(spec.at_least for spec in rule.distinct)

    def new_data(self) -> Window:
        return Window(counts=[{} for _ in self.rule.distinct])

    def _added(self, data: Window, event: RoutedEvent) -> None:
        values = tuple(extract(event) for extract in self.extractors)
        data.values.append(values)
        for value, counts in zip(values, data.counts, strict=True):
            if value is not None:
                counts[value] = counts.get(value, 0) + 1

    def _removed(self, data: Window, event: RoutedEvent) -> None:
        values = data.values.popleft()
        for value, counts in zip(values, data.counts, strict=True):
            if value is not None:
                left = counts[value] - 1
                if left:
                    counts[value] = left
                else:
                    del counts[value]

    def _inserted(self, data: Window, index: int, event: RoutedEvent) -> None:
        values = tuple(extract(event) for extract in self.extractors)
        data.values.insert(index, values)
        for value, counts in zip(values, data.counts, strict=True):
            if value is not None:
                counts[value] = counts.get(value, 0) + 1

    def _holds(self, data: Window) -> bool:
        for minimum, counts in zip(self.minimums, data.counts, strict=True):
            if len(counts) < minimum:
                return False
        return True

    def _bound_holds(self, data: Window, event: RoutedEvent, span: list[RoutedEvent]) -> bool:
        for extract, minimum, counts in zip(
            self.extractors, self.minimums, data.counts, strict=True
        ):
            known = len(counts)
            if known >= minimum:
                continue  # met already; another count may not be
            new = {extract(other) for other in span}
            new.add(extract(event))
            new.discard(None)
            if known + len(new - counts.keys()) < minimum:
                return False
        return True

    def apply(self, data: Window, event: RoutedEvent, suppressed: bool) -> list[RoutedEvent] | None:
        # the generic _Windowed.apply with _added/_removed inlined (hot path)
        if suppressed:
            return [event]
        if data.events and data.events[-1].time_us > event.time_us:
            return self._apply_unordered(data, event)
        values = tuple([extract(event) for extract in self.extractors])
        events, kept, all_counts = data.events, data.values, data.counts
        events.append(event)
        kept.append(values)
        for value, counts in zip(values, all_counts, strict=True):
            if value is not None:
                counts[value] = counts.get(value, 0) + 1
        low = event.time_us - self.window_us
        older = data.older
        if events[0].time_us < low:
            if older is None:
                older = data.older = deque()
            while events[0].time_us < low:
                older.append(events.popleft())
                for value, counts in zip(kept.popleft(), all_counts, strict=True):
                    if value is not None:
                        left = counts[value] - 1
                        if left:
                            counts[value] = left
                        else:
                            del counts[value]
        if older:
            low -= self.lateness_us
            while older and older[0].time_us < low:
                older.popleft()
        for minimum, counts in zip(self.minimums, all_counts, strict=True):
            if len(counts) < minimum:
                return None
        fired = list(events)
        self._clear(data)
        return fired


class SingleValueCountEvaluator(ValueCountEvaluator):
    """One distinct count (every value_count rule of the pack; session.hijack
    sees every event): ``Window.values`` holds each event's bare value, not
    a 1-tuple, and the one plain field counted is read inline."""

    def __init__(self, rule: ValueCountRule, lateness_us: int = 0) -> None:
        super().__init__(rule, lateness_us)
        (self._extract,) = self.extractors
        (self._minimum,) = self.minimums
        (fields,) = (spec.fields for spec in rule.distinct)
        self._path: str | None = None
        if len(fields) == 1 and isinstance(fields[0], str) and fields[0] != "organization.id":
            self._path = fields[0]

    def _added(self, data: Window, event: RoutedEvent) -> None:
        value = self._extract(event)
        data.values.append(value)
        if value is not None:
            counts = data.counts[0]
            counts[value] = counts.get(value, 0) + 1

    def _removed(self, data: Window, event: RoutedEvent) -> None:
        value = data.values.popleft()
        if value is not None:
            counts = data.counts[0]
            left = counts[value] - 1
            if left:
                counts[value] = left
            else:
                del counts[value]

    def _inserted(self, data: Window, index: int, event: RoutedEvent) -> None:
        value = self._extract(event)
        data.values.insert(index, value)
        if value is not None:
            counts = data.counts[0]
            counts[value] = counts.get(value, 0) + 1

    def _holds(self, data: Window) -> bool:
        return len(data.counts[0]) >= self._minimum

    def apply(self, data: Window, event: RoutedEvent, suppressed: bool) -> list[RoutedEvent] | None:
        if suppressed:
            return [event]
        events = data.events
        time_us = event.time_us
        if events and events[-1].time_us > time_us:
            return self._apply_unordered(data, event)
        path = self._path
        if path is None:
            value = self._extract(event)
        else:
            value = event.fields.get(path)
            if type(value) is not str and value is not None:
                value = None if isinstance(value, dict | list) else str(value)
        kept, counts = data.values, data.counts[0]
        events.append(event)
        kept.append(value)
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
        low = time_us - self.window_us
        older = data.older
        if events[0].time_us < low:
            if older is None:
                older = data.older = deque()
            while events[0].time_us < low:
                older.append(events.popleft())
                old = kept.popleft()
                if old is not None:
                    left = counts[old] - 1
                    if left:
                        counts[old] = left
                    else:
                        del counts[old]
        if older:
            low -= self.lateness_us
            while older and older[0].time_us < low:
                older.popleft()
        if len(counts) < self._minimum:
            return None
        fired = list(events)
        self._clear(data)
        return fired


def _number(value: Any) -> float:
    # Non-negative only: that keeps the sum monotone (see SumRule).
    if (type(value) is int or type(value) is float) and value > 0:
        return value
    return 0


class SumEvaluator(_Windowed):
    rule: SumRule

    def _added(self, data: Window, event: RoutedEvent) -> None:
        data.total += _number(event.fields.get(self.rule.field))

    def _removed(self, data: Window, event: RoutedEvent) -> None:
        data.total -= _number(event.fields.get(self.rule.field))

    def _holds(self, data: Window) -> bool:
        return data.total >= self.rule.at_least

    def _bound_holds(self, data: Window, event: RoutedEvent, span: list[RoutedEvent]) -> bool:
        field_name = self.rule.field
        total = data.total + _number(event.fields.get(field_name))
        total += sum(_number(other.fields.get(field_name)) for other in span)
        # The running total is kept by adding and taking away: with float
        # amounts it can drift below the exact sum, so the bound gets room.
        return total + abs(total) * 1e-9 >= self.rule.at_least


@dataclass(slots=True)
class Steps:
    #: per step, its events of the last ``window`` before the newest event
    #: of any step
    queues: list[deque[RoutedEvent]]
    #: per step, the events behind that window kept one allowed lateness
    #: more, for the events that arrive out of order; None until needed
    older: list[deque[RoutedEvent]] | None = None


class SequenceEvaluator(_Base):
    """Ordered steps, greedy earliest match: the first ``count`` events of step 0
    in the window, then the first ``count`` of step 1 after those, and so on;
    it fires on the event that completes the last step.

    A match ends at an event of the last step, so in event-time order only
    the window ending at the new event can newly hold one. An event inserted
    out of order can complete a match in any window ending at an event of
    the last step from it to ``window`` after it: those are checked, over
    the events kept one lateness behind the window (rare path).
    """

    rule: SequenceRule

    def __init__(self, rule: SequenceRule, lateness_us: int = 0) -> None:
        super().__init__(rule, lateness_us)
        self.window_us = self.lookback_us = _us(rule.window)
        self.counts = tuple(step.count for step in rule.steps)

    @property
    def reach_us(self) -> int:
        return self.window_us + self.lateness_us

    @property
    def held_span_us(self) -> int:
        return self.reach_us

    def new_data(self) -> Steps:
        return Steps([deque() for _ in self.counts])

    def contains(self, data: Steps, event: RoutedEvent) -> bool:
        if _held(data.queues[event.step], event):
            return True
        return data.older is not None and _held(data.older[event.step], event)

    def held(self, data: Steps) -> int:
        return sum(map(len, data.queues)) + sum(map(len, data.older or ()))

    def apply(self, data: Steps, event: RoutedEvent, suppressed: bool) -> list[RoutedEvent] | None:
        if suppressed:
            return [event]
        queues = data.queues
        newest = event.time_us
        for queue in queues:
            if queue and (
                queue[-1].time_us > newest
                or (queue[-1].time_us == newest and queue[-1].event_id > event.event_id)
            ):
                # out of order: a step judged by (event time, id) may come before
                return self._apply_unordered(data, event)
        _insert(queues[event.step], event)
        self._retire(data, newest - self.window_us)
        if event.step != len(self.counts) - 1:
            return None  # the newest event, not of the last step: no match ends here
        for queue, need in zip(queues, self.counts, strict=True):
            if len(queue) < need:
                return None  # a step short of events: no match at all (the usual case)
        first = self._first_of_match(queues)
        if first is None:
            return None
        fired = self._from(queues, first)
        for queue in queues:
            queue.clear()
        data.older = None
        return fired

    def _retire(self, data: Steps, low_us: int) -> None:
        older = data.older
        for step, queue in enumerate(data.queues):
            if queue and queue[0].time_us < low_us:
                if older is None:
                    older = data.older = [deque() for _ in self.counts]
                kept = older[step]
                while queue and queue[0].time_us < low_us:
                    kept.append(queue.popleft())
        if older is not None:
            low_us -= self.lateness_us
            for kept in older:
                while kept and kept[0].time_us < low_us:
                    kept.popleft()

    @staticmethod
    def _from(queues: Any, first: tuple[int, str]) -> list[RoutedEvent]:
        unique = {
            e.event_id: e for queue in queues for e in queue if (e.time_us, e.event_id) >= first
        }  # an event matching two steps is one event of the detection
        return sorted(unique.values(), key=lambda e: (e.time_us, e.event_id))

    def _rebuild(self, data: Steps, steps: list[list[RoutedEvent]]) -> None:
        """``data`` holding these events per step (each in event-time order)."""
        newest = max((items[-1].time_us for items in steps if items), default=None)
        data.older = None
        data.queues = [deque() for _ in self.counts]
        if newest is None:
            return
        low = newest - self.window_us
        keep = low - self.lateness_us
        older = [deque(e for e in items if keep <= e.time_us < low) for items in steps]
        if any(older):
            data.older = older
        data.queues = [deque(e for e in items if e.time_us >= low) for items in steps]

    def _apply_unordered(self, data: Steps, event: RoutedEvent) -> list[RoutedEvent] | None:
        """An event older than the newest: check every window ending at an
        event of the last step that it can belong to, oldest first."""
        older = data.older
        steps = [
            list(older[step] if older is not None else ()) + list(queue)
            for step, queue in enumerate(data.queues)
        ]
        mine = steps[event.step]
        position = (event.time_us, event.event_id, event.step)
        index = len(mine)
        while index > 0:
            other = mine[index - 1]
            if (other.time_us, other.event_id, other.step) <= position:
                break
            index -= 1
        mine.insert(index, event)
        width = self.window_us
        for end in steps[-1]:
            if end.time_us < event.time_us:
                continue
            if end.time_us > event.time_us + width:
                break
            low, high = end.time_us - width, end.time_us
            window = [[e for e in items if low <= e.time_us <= high] for items in steps]
            first = self._first_of_match(window)
            if first is None:
                continue
            fired = self._from(window, first)
            # As in event-time order: the later events the detection's
            # suppression covers extend it; the rest are windowed anew.
            until = fired[0].time_us + self.suppress_us
            taken = {(e.event_id, e.step) for e in fired}
            later = [[e for e in items if e.time_us > high] for items in steps]
            extend = {
                e.event_id: e
                for items in later
                for e in items
                if e.time_us < until and (e.event_id, e.step) not in taken
            }
            fired.extend(sorted(extend.values(), key=lambda e: (e.time_us, e.event_id)))
            self._rebuild(data, [[e for e in items if e.time_us >= until] for items in later])
            return fired
        self._rebuild(data, steps)
        return None

    def _first_of_match(self, queues: Any) -> tuple[int, str] | None:
        position: tuple[int, str] | None = None
        first: tuple[int, str] | None = None
        for queue, need in zip(queues, self.counts, strict=True):
            got = 0
            for e in queue:
                here = (e.time_us, e.event_id)
                if position is not None and here <= position:
                    continue
                got += 1
                if first is None:
                    first = here
                if got == need:
                    position = here
                    break
            else:
                return None
        return first

    def idle(self, data: Steps, now_us: int) -> bool:
        # ``now_us`` is at most the watermark: see _Windowed.idle
        low = now_us - self.window_us
        for queue in data.queues:
            while queue and queue[0].time_us < low:
                queue.popleft()
        if data.older is not None:
            for kept in data.older:
                while kept and kept[0].time_us < low:
                    kept.popleft()
            if not any(data.older):
                data.older = None
        return not any(data.queues) and data.older is None

    def snapshot(self, data: Steps) -> list[tuple[RoutedEvent, ...]]:
        # per step one tuple in event-time order, the older events first
        older = data.older
        return [
            (*(older[step] if older is not None else ()), *queue)
            for step, queue in enumerate(data.queues)
        ]

    def dump(self, snapshot: list[tuple[RoutedEvent, ...]]) -> Any:
        # per step one list in event-time order, the older events first: the
        # layout written before they were kept loads the same way
        return [[dump_event(e) for e in step] for step in snapshot]

    def load(self, raw: Any, rebuild: Any) -> Steps:
        data = self.new_data()
        self._rebuild(data, [[rebuild(item) for item in queue] for queue in raw])
        return data

    def sequences(
        self, snapshot: list[tuple[RoutedEvent, ...]]
    ) -> tuple[Any, list[tuple[RoutedEvent, ...]]]:
        return None, list(snapshot)

    def raw_of_sequences(self, rest: Any, sequences: list[list[Any]]) -> Any:
        return sequences


@dataclass(slots=True)
class History:
    #: UTC day -> [count, earliest, latest] of the group's events that day.
    days: dict[int, list[int]] = field(default_factory=dict)
    #: value -> time it was last seen.
    values: dict[str, int] = field(default_factory=dict)


class NewValueEvaluator(_Base):
    """History kept per UTC day (compact: at most ``history`` days + values).

    The history of an event on day ``d`` is the group's earlier events of
    days ``d - history_days`` to ``d``.
    """

    rule: NewValueRule

    def __init__(self, rule: NewValueRule) -> None:
        super().__init__(rule)
        self.history_days = math.ceil(rule.history.total_seconds() / 86_400)
        self.span_us = _us(rule.min_history_span)
        self.lookback_us = self.history_days * _DAY_US

    def new_data(self) -> History:
        return History()

    def _prune(self, data: History, day: int) -> None:
        oldest = day - self.history_days
        for old in [d for d in data.days if d < oldest]:
            del data.days[old]
        horizon = oldest * _DAY_US
        for value in [v for v, t in data.values.items() if t < horizon]:
            del data.values[value]

    def apply(
        self, data: History, event: RoutedEvent, suppressed: bool
    ) -> list[RoutedEvent] | None:
        raw = event.fields.get(self.rule.field)
        if raw is None:
            return None
        value = str(raw)
        now = event.time_us
        day = now // _DAY_US
        days = data.days
        if days and min(days) < day - self.history_days:
            self._prune(data, day)
        new = False
        if value not in data.values and days:
            count = sum(d[0] for d in days.values())
            if count >= self.rule.min_history_events:
                span = max(d[2] for d in days.values()) - min(d[1] for d in days.values())
                new = span >= self.span_us
        today = days.get(day)
        if today is None:
            days[day] = [1, now, now]
        else:
            today[0] += 1
            today[2] = now
        data.values[value] = now
        return [event] if new else None

    def held(self, data: History) -> int:
        # values, not events: the history keeps one entry per value seen
        return len(data.values)

    def idle(self, data: History, now_us: int) -> bool:
        self._prune(data, now_us // _DAY_US)
        return not data.days

    def snapshot(self, data: History) -> History:
        # a day's counters change in place: copied
        return History({d: list(v) for d, v in data.days.items()}, dict(data.values))

    def dump(self, snapshot: History) -> Any:
        return {"days": {str(d): v for d, v in snapshot.days.items()}, "values": snapshot.values}

    def load(self, raw: Any, rebuild: Any) -> History:
        return History(
            days={int(d): list(v) for d, v in raw["days"].items()}, values=dict(raw["values"])
        )


_EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def location(value: Any) -> tuple[float, float] | None:
    """``{lat, lon}`` in degrees, or None when absent or out of range."""
    if type(value) is not dict:
        return None
    lat, lon = value.get("lat"), value.get("lon")
    # exact types: a bool is an int, and is not a coordinate
    if (type(lat) is not float and type(lat) is not int) or (
        type(lon) is not float and type(lon) is not int
    ):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return float(lat), float(lon)


@dataclass(slots=True)
class LastSeen:
    event: RoutedEvent | None = None
    #: the event's location, parsed once
    where: tuple[float, float] | None = None
    #: the located events before ``event``, in event-time order: those of
    #: the last lateness before it and the one just before those (None if
    #: none): the neighbours an event arriving out of order is compared with
    recent: list[tuple[RoutedEvent, tuple[float, float]]] | None = None


def _order(event: RoutedEvent) -> tuple[int, str]:
    return (event.time_us, event.event_id)


class GeoVelocityEvaluator(_Base):
    """Each located event is compared with the one before it in event time
    (consecutive logins; the rule's description). In event-time order that
    is the newest so far. An event arriving out of order is compared with
    its neighbours in event time (the one before and the one after it) and,
    as before, with the newest; ``LastSeen.recent`` keeps what those
    neighbours can be for an event within the lateness, so every pair
    consecutive in event time is judged whatever the arrival order."""

    rule: GeoVelocityRule

    def __init__(self, rule: GeoVelocityRule, lateness_us: int = 0) -> None:
        super().__init__(rule, lateness_us)
        self.max_interval_us = self.lookback_us = _us(rule.max_interval)

    def contains(self, data: LastSeen, event: RoutedEvent) -> bool:
        if data.event is not None and data.event.event_id == event.event_id:
            return True
        return data.recent is not None and any(
            kept.event_id == event.event_id for kept, _ in data.recent
        )

    def new_data(self) -> LastSeen:
        return LastSeen()

    def _too_fast(
        self, a: RoutedEvent, at_a: tuple[float, float], b: RoutedEvent, at_b: tuple[float, float]
    ) -> bool:
        if at_a == at_b:
            return False  # the same place (most logins): min_distance_km > 0 by the rule model
        elapsed = abs(a.time_us - b.time_us)
        if elapsed > self.max_interval_us:
            return False
        distance = haversine_km(at_a[0], at_a[1], at_b[0], at_b[1])
        if distance < self.rule.min_distance_km:
            return False
        hours = elapsed / 3_600_000_000
        speed = math.inf if hours == 0 else distance / hours
        return speed >= self.rule.min_speed_kmh

    def _trim(self, recent: list[tuple[RoutedEvent, tuple[float, float]]], newest_us: int) -> None:
        low = newest_us - self.lateness_us
        drop = 0
        while drop + 1 < len(recent) and recent[drop + 1][0].time_us < low:
            drop += 1
        if drop:
            del recent[:drop]

    def apply(
        self, data: LastSeen, event: RoutedEvent, suppressed: bool
    ) -> list[RoutedEvent] | None:
        here = location(event.fields.get(self.rule.location_field))
        if here is None:
            return None
        previous, there = data.event, data.where
        if previous is None or there is None:
            data.event, data.where = event, here
            return None
        if previous.time_us > event.time_us or (
            previous.time_us == event.time_us and previous.event_id > event.event_id
        ):  # out of order (in the same second: by id, as event-time order has it)
            return self._apply_unordered(data, event, here, suppressed)
        data.event, data.where = event, here
        recent = data.recent
        if recent is None:
            data.recent = [(previous, there)]
        else:
            recent.append((previous, there))
            if recent[1][0].time_us < event.time_us - self.lateness_us:
                self._trim(recent, event.time_us)
        if here == there:
            return None  # the same place (most logins): min_distance_km > 0 by the rule model
        elapsed = event.time_us - previous.time_us
        if elapsed > self.max_interval_us:
            return None
        distance = haversine_km(there[0], there[1], here[0], here[1])
        if distance < self.rule.min_distance_km:
            return None
        hours = elapsed / 3_600_000_000
        speed = math.inf if hours == 0 else distance / hours
        if speed < self.rule.min_speed_kmh:
            return None
        if suppressed:
            return [event]
        return [previous, event]

    def _apply_unordered(
        self, data: LastSeen, event: RoutedEvent, here: tuple[float, float], suppressed: bool
    ) -> list[RoutedEvent] | None:
        """An event older than the newest: compared with the events just
        before and after it in event time, and with the newest."""
        assert data.event is not None and data.where is not None
        kept = list(data.recent or ())
        kept.append((data.event, data.where))
        position = _order(event)
        index = len(kept)
        while index > 0 and _order(kept[index - 1][0]) > position:
            index -= 1
        candidates = []
        if index > 0:
            candidates.append(kept[index - 1])
        candidates.append(kept[index])  # the one after it (the newest at the latest)
        if index < len(kept) - 1:
            candidates.append(kept[-1])
        fired = None
        for other, there in candidates:
            if self._too_fast(event, here, other, there):
                fired = [other, event] if _order(other) <= position else [event, other]
                break
        kept.insert(index, (event, here))
        recent = kept[:-1]
        self._trim(recent, data.event.time_us)
        data.recent = recent
        if fired is None:
            return None
        return [event] if suppressed else fired

    def held(self, data: LastSeen) -> int:
        return (data.event is not None) + len(data.recent or ())

    def idle(self, data: LastSeen, now_us: int) -> bool:
        if data.event is not None and now_us - data.event.time_us > self.max_interval_us:
            data.event = data.where = data.recent = None
        return data.event is None

    def snapshot(self, data: LastSeen) -> LastSeen:
        return LastSeen(data.event, data.where, None if data.recent is None else list(data.recent))

    def dump(self, data: LastSeen) -> Any:
        if data.event is None:
            return None
        if not data.recent:
            return dump_event(data.event)  # the layout written before ``recent``
        return {
            "event": dump_event(data.event),
            "recent": [dump_event(kept) for kept, _ in data.recent],
        }

    def sequences(self, snapshot: LastSeen) -> tuple[Any, list[tuple[RoutedEvent, ...]]]:
        # ``recent`` is in event-time order; the newest event is the rest
        if snapshot.event is None:
            return None, []
        return dump_event(snapshot.event), [tuple(map(_kept_event, snapshot.recent or ()))]

    def raw_of_sequences(self, rest: Any, sequences: list[list[Any]]) -> Any:
        if rest is None or not sequences or not sequences[0]:
            return rest
        return {"event": rest, "recent": sequences[0]}

    def load(self, raw: Any, rebuild: Any) -> LastSeen:
        if raw is None:
            return LastSeen()
        field_name = self.rule.location_field
        if isinstance(raw, dict):
            event = rebuild(raw["event"])
            recent = []
            for item in raw["recent"]:
                kept = rebuild(item)
                where = location(kept.fields.get(field_name))
                if where is not None:
                    recent.append((kept, where))
            return LastSeen(event, location(event.fields.get(field_name)), recent or None)
        event = rebuild(raw)
        return LastSeen(event, location(event.fields.get(field_name)))


def make_evaluator(rule: RuleBase, lateness_us: int = 0) -> Evaluator:
    """The evaluator of a rule, by its model class.

    ``lateness_us``: the engine's allowed lateness; a windowed rule keeps its
    events that much longer, for the events that arrive out of order.
    """
    if isinstance(rule, MatchRule):
        return MatchEvaluator(rule)
    if isinstance(rule, ThresholdRule):
        return ThresholdEvaluator(rule, lateness_us)
    if isinstance(rule, ValueCountRule):
        if len(rule.distinct) == 1:
            return SingleValueCountEvaluator(rule, lateness_us)
        return ValueCountEvaluator(rule, lateness_us)
    if isinstance(rule, SumRule):
        return SumEvaluator(rule, lateness_us)
    if isinstance(rule, SequenceRule):
        return SequenceEvaluator(rule, lateness_us)
    if isinstance(rule, NewValueRule):
        return NewValueEvaluator(rule)
    if isinstance(rule, GeoVelocityRule):
        return GeoVelocityEvaluator(rule, lateness_us)
    raise TypeError(f"no evaluator for rule type {rule.type!r}")


__all__ = ["Evaluator", "haversine_km", "load_event", "make_evaluator"]
