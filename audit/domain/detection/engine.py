"""The detection engine: routed events in, detections out, on event time.

Firing on arrival
-----------------
A monotone rule (``RuleBase.monotone``: match, threshold, value_count, sum,
sequence, geo_velocity) is evaluated on every event as it arrives, in any
order, against its key's event-time window; the detection fires the
moment the condition holds (:meth:`DetectionEngine.process` returns it;
the detector feeds a turn's records and takes what fired once, with
:meth:`~DetectionEngine.take_detections`). Later events of the same
burst (from one lookback before the detection's first event to the end of
its suppression) update that detection in place: same id, more events.
The id is derived from data (rule, group key, time of the first event that
made it), so replaying a stream gives the same detections, and a restart
that re-reads events rewrites the same detection rather than raising a
second one.

Watermark
---------
The engine keeps ``clock``: the largest ``clock_us`` of the routed events
it has processed (normally their event time) or the largest time given to
:meth:`DetectionEngine.advance` (only the latter with
``clock_from_events=False``, for a runtime that tracks source progress).
The watermark is ``clock - lateness``. The non-monotone rule type
(new_value) waits for it: its events wait in their key's ``pending`` list
until the watermark passes them and are then applied in (event time, event
id, sequence step) order, so two arrival orders that differ within the
lateness give the same answer.

Late lane and horizon
---------------------
An event behind the watermark is still evaluated while it is within the
late horizon (``late_horizon``, default one day, before the watermark):
monotone rules fully, new_value at once, against the history known then.
A monotone rule's event older than its key's newest goes into the key's
window while it is within the evaluator's ``reach_us`` of the newest: for
the windowed types (threshold, value_count, sum, sequence) the window and
one lateness more, since their evaluators keep that much (see
:mod:`~audit.domain.detection.evaluators`) and check every window the event
belongs to, so an event arriving up to one lateness late meets every event
it would have met in event-time order. An older event goes to the key's
*late lane*, a second window of the same rule that only late events fill,
kept until the horizon passes it (the live window no longer holds what it
would need to meet). Events beyond the horizon are *too late*: counted
(``late_events``, ``late_by_rule``), a sample kept with the reason
(:meth:`take_too_late`), and not evaluated.

State per key
-------------
All of a key's state (pending events, position, window, open detection) is
one :class:`~audit.domain.detection.state.KeyState`; :meth:`dump_state`
/ :meth:`load_state` turn it into JSON bytes and back, and
:meth:`take_changed_keys` says which keys to write to the changelog (a key
whose state was dropped dumps as None: write a tombstone). A key's late
lane is a state of its own, under ``key + LATE_SUFFIX``. The detector
writes a key holding many events as a head and time segments instead
(:mod:`~audit.domain.detection.segments`, through :meth:`snapshot_state`
and :meth:`load_doc`); the head is this record without its events.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson

from audit.domain.detection.evaluators import Evaluator, make_evaluator
from audit.domain.detection.record import Detection
from audit.domain.detection.routing import RoutedEvent, from_us, to_us
from audit.domain.detection.rules import RuleBase
from audit.domain.detection.state import DUMPED_FROM, KeyState, OpenDetection, dump_event

DEFAULT_LATENESS = timedelta(minutes=2)
DEFAULT_LATE_HORIZON = timedelta(days=1)
#: The changelog key of a key's late lane is the key and this suffix.
LATE_SUFFIX = "|~late"
#: At most this many too-late events are kept for :meth:`take_too_late`.
TOO_LATE_SAMPLE = 100
_STATE_VERSION = 1
_NEVER = -(2**62)

_HeapItem = tuple[int, str, int, int, str, RoutedEvent]


@dataclass(frozen=True, slots=True)
class TooLate:
    """An event not evaluated: older than the watermark minus the late horizon."""

    rule_id: str
    key: str
    event_id: str
    time_us: int
    watermark_us: int
    reason: str


class DetectionEngine:
    """Windowed evaluation of routed events for the keys this process owns.

    Not thread-safe: one engine per consumer (per set of partitions).
    """

    def __init__(
        self,
        rules: Iterable[RuleBase],
        *,
        lateness: timedelta = DEFAULT_LATENESS,
        clock_from_events: bool = True,
        late_horizon: timedelta = DEFAULT_LATE_HORIZON,
    ) -> None:
        """``clock_from_events=False``: only :meth:`advance` moves the clock
        (a runtime that derives it from the progress of every source
        partition); routed events then never move the watermark."""
        if lateness < timedelta(0):
            raise ValueError("lateness must not be negative")
        self.rules: dict[str, RuleBase] = {r.id: r for r in rules if r.enabled}
        self._lateness_us = to_us_delta(lateness)
        self._evaluators: dict[str, Evaluator] = {
            rule_id: make_evaluator(rule, self._lateness_us) for rule_id, rule in self.rules.items()
        }
        self._horizon_us = to_us_delta(late_horizon)
        self._too_late: list[TooLate] = []
        self._clock_from_events = clock_from_events
        self._states: dict[str, KeyState] = {}
        self._heap: list[_HeapItem] = []
        self._seq = 0
        self._clock_us = _NEVER
        self._watermark_us = _NEVER
        #: Events before this are too late (the watermark minus the horizon);
        #: kept beside the watermark so the hot path compares once.
        self._too_late_us = _NEVER
        #: rule id -> (evaluator, monotone?): one lookup per record.
        self._by_rule: dict[str, tuple[Evaluator, bool]] = {
            rule_id: (evaluator, evaluator.monotone)
            for rule_id, evaluator in self._evaluators.items()
        }
        self._changed: set[str] = set()
        #: Detections opened or updated since the last take, by id: built
        #: once when taken. A burst updates its detection on every event
        #: (1,650 updates per 2,500 events in the steady bench), and a
        #: consumer stores only the latest form of each.
        self._fired: dict[str, tuple[KeyState, OpenDetection]] = {}
        self.late_events = 0
        self.late_by_rule: Counter[str] = Counter()
        self.stale_events = 0
        self.unknown_rule_events = 0

    # -- time --------------------------------------------------------------

    @property
    def watermark(self) -> datetime | None:
        """Events before this are late; None until the first event."""
        return None if self._watermark_us == _NEVER else from_us(self._watermark_us)

    def advance(self, now: datetime) -> list[Detection]:
        """Move the clock to ``now`` without an event (idle partitions);
        return the detections opened or updated since the last take."""
        now_us = to_us(now)
        if now_us > self._clock_us:
            self._clock_us = now_us
            self._watermark_us = now_us - self._lateness_us
            self._too_late_us = self._watermark_us - self._horizon_us
        self._release(self._watermark_us)
        return self.take_detections()

    def flush(self) -> list[Detection]:
        """Apply every pending event now (end of a finite replay or dry run)."""
        self._release(None)
        return self.take_detections()

    # -- processing ----------------------------------------------------------

    def process(self, routed: RoutedEvent) -> list[Detection]:
        """Take one routed event; return the detections opened or updated.

        A detection updated several times in one call is returned once, in
        its latest form; write it by its ``id`` (idempotent).
        """
        self.feed(routed)
        return self.take_detections() if self._fired else []

    def take_detections(self) -> list[Detection]:
        """The detections opened or updated since the last take, each once
        in its latest form (in the order they first fired)."""
        fired = self._fired
        if not fired:
            return []
        rules = self.rules
        self._fired = {}
        return [
            opened.to_detection(rules[state.rule_id], state.group_key)
            for state, opened in fired.values()
        ]

    def feed(self, routed: RoutedEvent) -> None:
        """Take one routed event; what it fires waits for :meth:`take_detections`
        (a consumer takes once per batch: one detection built per burst)."""
        entry = self._by_rule.get(routed.rule_id)
        if entry is None:
            self.unknown_rule_events += 1
            return
        evaluator, monotone = entry
        time_us = routed.time_us
        if self._clock_from_events and routed.clock_us > self._clock_us:
            self._clock_us = routed.clock_us
            self._watermark_us = routed.clock_us - self._lateness_us
            self._too_late_us = self._watermark_us - self._horizon_us
        if time_us < self._too_late_us:
            self._count_too_late(routed, self._watermark_us)
            return
        if monotone:
            key = routed.key
            state = self._states.get(key)
            if state is not None and state.open is None:
                floor = state.floor
                if floor is not None and time_us > floor[0]:
                    # The common case, inlined (hot path): in event-time order
                    # and no detection open: what _apply does then.
                    state.floor = (time_us, routed.event_id, routed.step)
                    self._changed.add(key)
                    if evaluator.keeps_events:
                        routed = _sharing_parts(routed, state)
                    events = evaluator.apply(state.data, routed, False)
                    if events:
                        fired = OpenDetection.start(state.rule_id, state.key, events)
                        state.open = fired
                        self._fired[fired.id] = (state, fired)
                    return
            self._arrive(evaluator, routed)
            return
        watermark = self._watermark_us
        key = routed.key
        state = self._states.get(key)
        if state is None:
            state = KeyState(routed.rule_id, key, routed.group_key, evaluator.new_data())
            self._states[key] = state
        else:
            floor = state.floor
            if ((floor is not None and time_us <= floor[0]) or state.pending) and self._seen(
                state, routed
            ):
                self.stale_events += 1
                return
        if time_us < watermark:
            # Late lane of an ordered rule: judged now, against what is known.
            self._changed.add(key)
            opened = self._apply(state, evaluator, routed)
            if opened is not None:
                self._fired[opened.id] = (state, opened)
            return
        _insert_pending(state.pending, routed)
        self._seq += 1
        heap = self._heap
        heapq.heappush(heap, (time_us, routed.event_id, routed.step, self._seq, key, routed))
        self._changed.add(key)
        if heap[0][0] < watermark:
            self._release(watermark)

    def _count_too_late(self, routed: RoutedEvent, watermark: int) -> None:
        self.late_events += 1
        self.late_by_rule[routed.rule_id] += 1
        if len(self._too_late) < TOO_LATE_SAMPLE:
            horizon = (watermark - self._horizon_us) // 1_000_000
            self._too_late.append(
                TooLate(
                    routed.rule_id,
                    routed.key,
                    routed.event_id,
                    routed.time_us,
                    watermark,
                    f"event time older than the watermark minus the late horizon "
                    f"({self._horizon_us // 1_000_000} s): not evaluated; oldest evaluated "
                    f"was {from_us(horizon * 1_000_000).isoformat()}",
                )
            )

    def take_too_late(self) -> list[TooLate]:
        """The sample of too-late events since the last call (at most 100)."""
        taken, self._too_late = self._too_late, []
        return taken

    def _arrive(self, evaluator: Evaluator, routed: RoutedEvent) -> None:
        """A monotone rule's event, evaluated now whatever its arrival order."""
        key = routed.key
        states = self._states
        state = states.get(key)
        if state is None:
            state = KeyState(routed.rule_id, key, routed.group_key, evaluator.new_data())
            states[key] = state
        time_us = routed.time_us
        floor = state.floor
        target = state
        if floor is not None and time_us <= floor[0]:
            # Out of order (or again): a re-delivery is ignored; an event older
            # than what the key's window still holds (its reach: the window
            # and one lateness more for the windowed types) goes to the late
            # lane unless it belongs to the open detection.
            if self._holds_event(state, evaluator, routed):
                self.stale_events += 1
                return
            opened = state.open
            in_burst = opened is not None and (
                opened.start_us - evaluator.lookback_us
                <= time_us
                < opened.start_us + evaluator.suppress_us
            )
            if not in_burst and time_us < floor[0] - evaluator.reach_us:
                late_key = key + LATE_SUFFIX
                late = states.get(late_key)
                if late is None:
                    late = KeyState(routed.rule_id, key, routed.group_key, evaluator.new_data())
                    states[late_key] = late
                elif self._holds_event(late, evaluator, routed):
                    self.stale_events += 1
                    return
                target = late
                self._changed.add(late_key)
        self._changed.add(key)
        if evaluator.keeps_events:
            routed = _sharing_parts(routed, target)
        opened = self._apply(target, evaluator, routed)
        if opened is not None:
            self._fired[opened.id] = (target, opened)

    @staticmethod
    def _holds_event(state: KeyState, evaluator: Evaluator, routed: RoutedEvent) -> bool:
        floor = state.floor
        if floor is not None and floor[1] == routed.event_id and floor[2] == routed.step:
            return True
        opened = state.open
        if opened is not None and routed.event_id in opened.event_ids:
            return True
        return evaluator.contains(state.data, routed)

    def _apply(
        self, state: KeyState, evaluator: Evaluator, routed: RoutedEvent
    ) -> OpenDetection | None:
        """Suppression first, then the rule type's window; the detection
        opened or extended, if any."""
        time_us = routed.time_us
        position = (time_us, routed.event_id, routed.step)
        floor = state.floor
        if floor is None or position > floor:
            state.floor = position
        opened = state.open
        suppressed = False
        if opened is not None:
            if time_us >= opened.start_us + evaluator.suppress_us:
                state.open = opened = None
            elif time_us >= opened.start_us - evaluator.lookback_us:
                suppressed = True
        events = evaluator.apply(state.data, routed, suppressed)
        if not events:
            return None
        if suppressed and opened is not None:
            for event in events:
                opened.add(event)
            return opened
        opened = OpenDetection.start(state.rule_id, state.key, events)
        state.open = opened
        return opened

    @staticmethod
    def _seen(state: KeyState, routed: RoutedEvent) -> bool:
        floor = state.floor
        if (
            floor is not None
            and routed.time_us <= floor[0]
            and (routed.time_us, routed.event_id, routed.step) <= floor
        ):
            return True
        if state.pending:
            event_id = routed.event_id
            for waiting in state.pending:
                if waiting.event_id == event_id and waiting.step == routed.step:
                    return True
        return False

    def _push(self, routed: RoutedEvent) -> None:
        self._seq += 1
        heapq.heappush(
            self._heap,
            (routed.time_us, routed.event_id, routed.step, self._seq, routed.key, routed),
        )

    def _release(self, before_us: int | None) -> None:
        """Apply the pending events before ``before_us`` (all if None) in
        order; what fires waits for :meth:`take_detections`."""
        heap = self._heap
        states = self._states
        evaluators = self._evaluators
        changed = self._changed
        fired = self._fired
        heappop = heapq.heappop
        while heap and (before_us is None or heap[0][0] < before_us):
            _time_us, _event_id, _step, _, key, routed = heappop(heap)
            state = states.get(key)
            if state is None:
                continue
            pending = state.pending
            if pending and pending[0] is routed:
                del pending[0]
            else:
                for index, candidate in enumerate(pending):
                    if candidate is routed:
                        del pending[index]
                        break
                else:
                    continue  # replaced by a restore meanwhile
            changed.add(key)
            opened = self._apply(state, evaluators[state.rule_id], routed)
            if opened is not None:
                fired[opened.id] = (state, opened)

    # -- garbage collection ---------------------------------------------------

    def expire(self, now: datetime) -> int:
        """Forget what no rule looks at any more as of ``now`` (capped at the
        watermark, so a pending or future event is never lost); drop keys left
        empty. Returns how many keys were dropped (they dump as None)."""
        now_us = min(to_us(now), self._watermark_us)
        late_us = now_us - self._horizon_us  # a late lane lives until the horizon passes it
        dropped = [
            key
            for key, state in self._states.items()
            if self._idle(state, late_us if key != state.key else now_us)
        ]
        for key in dropped:
            del self._states[key]
            self._changed.add(key)
        return len(dropped)

    def _idle(self, state: KeyState, now_us: int) -> bool:
        evaluator = self._evaluators[state.rule_id]
        empty = evaluator.idle(state.data, now_us)
        if state.pending:
            return False
        opened = state.open
        if opened is not None and now_us < opened.start_us + evaluator.suppress_us:
            return False
        return empty

    # -- state for the changelog ----------------------------------------------

    @property
    def active_keys(self) -> int:
        return len(self._states)

    def state_keys(self) -> list[str]:
        return list(self._states)

    def entries_per_rule(self) -> dict[str, int]:
        """Events (new_value: history values) held per rule id, pending
        events included: the state's memory grows with these, not with keys
        (one session key of session.hijack can hold 30 minutes of events)."""
        return self.state_per_rule()[1]

    def state_per_rule(self) -> tuple[dict[str, int], dict[str, int]]:
        """Keys and entries per rule id, in one walk over the keys (the
        detector's housekeeping reports both, on its loop's thread)."""
        keys: Counter[str] = Counter()
        held: Counter[str] = Counter()
        evaluators = self._evaluators
        for state in self._states.values():
            rule_id = state.rule_id
            keys[rule_id] += 1
            held[rule_id] += evaluators[rule_id].held(state.data) + len(state.pending)
        return dict(keys), dict(held)

    def take_changed_keys(self) -> list[str]:
        """Keys whose state changed since the last call (sorted)."""
        changed, self._changed = self._changed, set()
        return sorted(changed)

    def evaluator(self, rule_id: str) -> Evaluator | None:
        """The evaluator of ``rule_id``, None when this engine does not run it."""
        return self._evaluators.get(rule_id)

    def dump_state(self, key: str) -> bytes | None:
        """The key's state as JSON bytes, or None when the engine holds none."""
        return encode_state(self.snapshot_state(key))

    def snapshot_state(self, key: str) -> StateSnapshot | None:
        """The key's state as it stands, for :func:`encode_state` later, on
        any thread: events are shared (they are immutable), the containers
        that change are copied. Taking it costs a copy of the window's
        references; encoding it (the JSON of every held event) is what
        costs, and the detector does that off its evaluating thread."""
        state = self._states.get(key)
        if state is None:
            return None
        evaluator = self._evaluators[state.rule_id]
        return StateSnapshot(
            state.rule_id,
            state.group_key,
            state.floor,
            tuple(state.pending),
            None if state.open is None else state.open.dump(),
            evaluator,
            evaluator.snapshot(state.data),
            key != state.key,
        )

    def load_state(self, key: str, raw: bytes | None) -> bool:
        """Restore one key (from the changelog); None removes it.

        Returns False when the state is for a rule this engine does not run
        (the rule was removed or disabled): it is ignored.
        """
        if raw is None:
            self._states.pop(key, None)
            return True
        return self.load_doc(key, orjson.loads(raw))

    def load_doc(self, key: str, doc: dict[str, Any]) -> bool:
        """:meth:`load_state` of a parsed record (its ``data`` in place: a
        record written in segments has it assembled first, see
        :mod:`~audit.domain.detection.segments`)."""
        if doc.get("v") != _STATE_VERSION:
            raise ValueError(f"state of {key!r} has version {doc.get('v')!r}, not {_STATE_VERSION}")
        rule_id = doc["rule_id"]
        evaluator = self._evaluators.get(rule_id)
        if evaluator is None:
            return False
        group_key = tuple((str(k), str(v)) for k, v in doc["group_key"])

        own_key = key[: -len(LATE_SUFFIX)] if doc.get("lane") == "late" else key

        state = KeyState(rule_id, own_key, group_key, None)

        def rebuild(item: Any) -> RoutedEvent:
            # Shared as live events are: a restored window must not need
            # more memory than the one it replaces. Made from the record's
            # parts at once: a restore rebuilds every held event.
            return _shared_event(item, state)

        state.data = evaluator.load(doc["data"], rebuild)
        floor = doc["floor"]
        state.floor = None if floor is None else (int(floor[0]), str(floor[1]), int(floor[2]))
        state.open = None if doc["open"] is None else OpenDetection.load(doc["open"])
        state.pending = sorted((rebuild(item) for item in doc["pending"]), key=_pending_order)
        self._states[key] = state
        for event in state.pending:
            self._push(event)
        return True

    def approx_bytes_per_key(self, sample: int = 500) -> float:
        """Mean size of the JSON state of up to ``sample`` keys (0 if none)."""
        sizes = []
        for index, key in enumerate(self._states):
            if index >= sample:
                break
            dumped = self.dump_state(key)
            sizes.append(len(dumped) if dumped is not None else 0)
        return sum(sizes) / len(sizes) if sizes else 0.0


class StateSnapshot(NamedTuple):
    """One key's state taken by :meth:`DetectionEngine.snapshot_state`."""

    rule_id: str
    group_key: tuple[tuple[str, str], ...]
    floor: tuple[int, str, int] | None
    pending: tuple[RoutedEvent, ...]
    open: dict[str, Any] | None
    evaluator: Evaluator
    data: Any
    late_lane: bool


def encode_state(snapshot: StateSnapshot | None) -> bytes | None:
    """A key's changelog record: its snapshot as JSON bytes (None: no state)."""
    if snapshot is None:
        return None
    doc = state_doc(snapshot)
    doc["data"] = snapshot.evaluator.dump(snapshot.data)
    return orjson.dumps(doc)


def state_doc(snapshot: StateSnapshot, *, pending: bool = True) -> dict[str, Any]:
    """A key's changelog record without its ``data`` (the evaluator's), and
    without its pending events unless ``pending``."""
    doc: dict[str, Any] = {
        "v": _STATE_VERSION,
        "rule_id": snapshot.rule_id,
        "group_key": [list(pair) for pair in snapshot.group_key],
        "floor": None if snapshot.floor is None else list(snapshot.floor),
        "pending": [dump_event(e) for e in snapshot.pending] if pending else [],
        "open": snapshot.open,
    }
    if snapshot.late_lane:
        doc["lane"] = "late"
    return doc


#: RoutedEvent from a tuple of its nine parts, without ``_make``'s Python
#: frame and length check (a kept event is made per record: the hot path).
_new_tuple = tuple.__new__


def _sharing_parts(routed: RoutedEvent, state: KeyState) -> RoutedEvent:
    """``routed`` holding its state's rule id, key and group key objects, not
    its own; and the organization id and fields of the key's previous event
    when they are equal.

    Each routed record arrives with its own copies of all of them (decoded
    from its message), which a window then holds for as long as the event:
    800-850 bytes per held event measured. A key's events mostly repeat
    them (one session: the same organization, user, address, country), and
    none is ever mutated, so an equal one is shared. Only the previous
    event's fields are compared: remembering four projections per key saved
    another 10% of memory and cost a fifth of route + evaluate.
    """
    return _shared_event(routed[DUMPED_FROM:], state)


def _shared_event(parts: Sequence[Any], state: KeyState) -> RoutedEvent:
    """The event of ``state`` whose own parts (``dump_event``'s: time, id,
    organization id, step, fields, clock) are ``parts``, sharing what
    :func:`_sharing_parts` says."""
    time_us, event_id, organization_id, step, fields, clock_us = parts
    kept = state.fields
    if kept is not None and fields == kept:
        # A string equals only a string: a projection of strings (the
        # usual one) needs no type check, and it is made once per kept one.
        all_str = state.fields_all_str
        if all_str is None:
            all_str = state.fields_all_str = set(map(type, kept.values())) == _STR_ONLY
        if all_str or _same_types(fields, kept):
            fields = kept
        else:
            # equal to a projection that is not all strings: neither is it
            state.fields = fields
    else:
        state.fields = fields
        state.fields_all_str = None
    if organization_id == state.organization_id:
        organization_id = state.organization_id
    else:
        state.organization_id = organization_id
    shared = (
        state.rule_id,
        state.key,
        state.group_key,
        time_us,
        event_id,
        organization_id,
        step,
        fields,
        clock_us,
    )
    return _new_tuple(RoutedEvent, shared)


_STR_ONLY = frozenset({str})


def _same_types(fields: Mapping[str, Any], kept: Mapping[str, Any]) -> bool:
    """Of two equal projections: whether their values have the same types,
    in the same order, none nested. ``==`` holds 1, 1.0 and True equal, and
    a rule may not (a sum counts numbers, not booleans); a nested value
    (a location) would need the same check inside. Conservative: equal
    projections built in another order are not shared."""
    types = [*map(type, fields.values())]
    return types == [*map(type, kept.values())] and dict not in types and list not in types


def _pending_order(event: RoutedEvent) -> tuple[int, str, int]:
    return (event.time_us, event.event_id, event.step)


def _insert_pending(pending: list[RoutedEvent], routed: RoutedEvent) -> None:
    """Keep a key's pending events in the order the watermark releases them
    (time, id, step): its release then takes the first, not a scan, and a
    changelog can cut them by time like a window (an event arrives
    out of order about as far behind the newest as its producer lags)."""
    if not pending or _pending_order(pending[-1]) <= _pending_order(routed):
        pending.append(routed)
        return
    position = _pending_order(routed)
    index = len(pending) - 1
    while index > 0 and _pending_order(pending[index - 1]) > position:
        index -= 1
    pending.insert(index, routed)


def to_us_delta(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)
