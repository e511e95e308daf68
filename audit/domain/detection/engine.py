"""The detection engine: routed events in, detections out, on event time.

Watermark
---------
The engine instance keeps ``clock``: the largest ``clock_us`` of the routed
events it has processed (normally their event time) or the largest time
given to :meth:`DetectionEngine.advance` (only the latter with
``clock_from_events=False``, for a runtime that tracks source progress). The watermark is ``clock -
lateness``. An event older than the watermark when it arrives is *late*: it
is counted (``late_events``, ``late_by_rule``) and not evaluated. Other
events wait in their key's ``pending`` list until the watermark passes them
(``time < watermark``), and are then applied in (event time, event id,
sequence step) order, whatever order they arrived in. So, for a given input
order, the result is deterministic, and two orders that differ only within
the lateness give the same detections: replaying a day at full speed gives
what living through it gave. The price is latency: a detection is raised
once the watermark passes its last event (``lateness`` after it, or when
the runtime calls :meth:`advance` with a later time, e.g. its clock while
idle). A producer clock running ahead cannot push the watermark past the
present if the router is given ``received_at`` (see ``RoutedEvent``).

Each key also remembers the position (time, id, step) of the last event
applied; anything at or before it arriving again (an at-least-once
re-delivery after a restore) is counted as ``stale_events`` and ignored.

State per key
-------------
All of a key's state (pending events, position, window, open detection) is
one :class:`~audit.domain.detection.state.KeyState`; :meth:`dump_state`
/ :meth:`load_state` turn it into JSON bytes and back, and
:meth:`take_changed_keys` says which keys to write to the changelog (a key
whose state was dropped dumps as None: write a tombstone).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import orjson

from audit.domain.detection.evaluators import Evaluator, make_evaluator
from audit.domain.detection.record import Detection
from audit.domain.detection.routing import RoutedEvent, from_us, to_us
from audit.domain.detection.rules import RuleBase
from audit.domain.detection.state import KeyState, OpenDetection, dump_event, load_event

DEFAULT_LATENESS = timedelta(minutes=2)
_STATE_VERSION = 1
_NEVER = -(2**62)

_HeapItem = tuple[int, str, int, int, str, RoutedEvent]


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
    ) -> None:
        """``clock_from_events=False``: only :meth:`advance` moves the clock
        (a runtime that derives it from the progress of every source
        partition); routed events then never move the watermark."""
        if lateness < timedelta(0):
            raise ValueError("lateness must not be negative")
        self.rules: dict[str, RuleBase] = {r.id: r for r in rules if r.enabled}
        self._evaluators: dict[str, Evaluator] = {
            rule_id: make_evaluator(rule) for rule_id, rule in self.rules.items()
        }
        self._lateness_us = to_us_delta(lateness)
        self._clock_from_events = clock_from_events
        self._states: dict[str, KeyState] = {}
        self._heap: list[_HeapItem] = []
        self._seq = 0
        self._clock_us = _NEVER
        self._watermark_us = _NEVER
        self._changed: set[str] = set()
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
        """Move the clock to ``now`` without an event (idle partitions)."""
        now_us = to_us(now)
        if now_us > self._clock_us:
            self._clock_us = now_us
            self._watermark_us = now_us - self._lateness_us
        return self._release(self._watermark_us)

    def flush(self) -> list[Detection]:
        """Apply every pending event now (end of a finite replay or dry run)."""
        return self._release(None)

    # -- processing ----------------------------------------------------------

    def process(self, routed: RoutedEvent) -> list[Detection]:
        """Take one routed event; return the detections opened or updated.

        A detection updated several times in one call is returned once, in
        its latest form; write it by its ``id`` (idempotent).
        """
        evaluator = self._evaluators.get(routed.rule_id)
        if evaluator is None:
            self.unknown_rule_events += 1
            return []
        time_us = routed.time_us
        if routed.clock_us > self._clock_us and self._clock_from_events:
            self._clock_us = routed.clock_us
            self._watermark_us = routed.clock_us - self._lateness_us
        watermark = self._watermark_us
        if time_us < watermark:
            self.late_events += 1
            self.late_by_rule[routed.rule_id] += 1
            return []
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
                return []
        state.pending.append(routed)
        self._seq += 1
        heap = self._heap
        heapq.heappush(heap, (time_us, routed.event_id, routed.step, self._seq, key, routed))
        self._changed.add(key)
        if heap[0][0] >= watermark:
            return []
        return self._release(watermark)

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

    def _release(self, before_us: int | None) -> list[Detection]:
        """Apply the pending events before ``before_us`` (all if None) in order."""
        heap = self._heap
        states = self._states
        evaluators = self._evaluators
        changed = self._changed
        heappop = heapq.heappop
        touched: dict[str, tuple[KeyState, OpenDetection]] | None = None
        while heap and (before_us is None or heap[0][0] < before_us):
            time_us, event_id, step, _, key, routed = heappop(heap)
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
            # apply: suppression first, then the rule type's window
            evaluator = evaluators[state.rule_id]
            state.floor = (time_us, event_id, step)
            changed.add(key)
            opened = state.open
            suppressed = False
            if opened is not None:
                if time_us < opened.start_us + evaluator.suppress_us:
                    suppressed = True
                else:
                    state.open = opened = None
            events = evaluator.apply(state.data, routed, suppressed)
            if not events:
                continue
            if opened is None:
                opened = OpenDetection.start(state.rule_id, key, events)
                state.open = opened
            else:
                for event in events:
                    opened.add(event)
            if touched is None:
                touched = {}
            touched[opened.id] = (state, opened)
        if touched is None:
            return []
        return [
            opened.to_detection(self.rules[state.rule_id], state.group_key)
            for state, opened in touched.values()
        ]

    # -- garbage collection ---------------------------------------------------

    def expire(self, now: datetime) -> int:
        """Forget what no rule looks at any more as of ``now`` (capped at the
        watermark, so a pending or future event is never lost); drop keys left
        empty. Returns how many keys were dropped (they dump as None)."""
        now_us = min(to_us(now), self._watermark_us)
        dropped = [key for key, state in self._states.items() if self._idle(state, now_us)]
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

    def keys_per_rule(self) -> dict[str, int]:
        """How many keys hold state, per rule id."""
        return dict(Counter(state.rule_id for state in self._states.values()))

    def take_changed_keys(self) -> list[str]:
        """Keys whose state changed since the last call (sorted)."""
        changed, self._changed = self._changed, set()
        return sorted(changed)

    def dump_state(self, key: str) -> bytes | None:
        """The key's state as JSON bytes, or None when the engine holds none."""
        state = self._states.get(key)
        if state is None:
            return None
        evaluator = self._evaluators[state.rule_id]
        doc: dict[str, Any] = {
            "v": _STATE_VERSION,
            "rule_id": state.rule_id,
            "group_key": [list(pair) for pair in state.group_key],
            "floor": None if state.floor is None else list(state.floor),
            "pending": [dump_event(e) for e in state.pending],
            "open": None if state.open is None else state.open.dump(),
            "data": evaluator.dump(state.data),
        }
        return orjson.dumps(doc)

    def load_state(self, key: str, raw: bytes | None) -> bool:
        """Restore one key (from the changelog); None removes it.

        Returns False when the state is for a rule this engine does not run
        (the rule was removed or disabled): it is ignored.
        """
        if raw is None:
            self._states.pop(key, None)
            return True
        doc = orjson.loads(raw)
        if doc.get("v") != _STATE_VERSION:
            raise ValueError(f"state of {key!r} has version {doc.get('v')!r}, not {_STATE_VERSION}")
        rule_id = doc["rule_id"]
        evaluator = self._evaluators.get(rule_id)
        if evaluator is None:
            return False
        group_key = tuple((str(k), str(v)) for k, v in doc["group_key"])

        def rebuild(item: Any) -> RoutedEvent:
            return load_event(rule_id, key, group_key, item)

        state = KeyState(rule_id, key, group_key, evaluator.load(doc["data"], rebuild))
        floor = doc["floor"]
        state.floor = None if floor is None else (int(floor[0]), str(floor[1]), int(floor[2]))
        state.open = None if doc["open"] is None else OpenDetection.load(doc["open"])
        state.pending = [rebuild(item) for item in doc["pending"]]
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


def to_us_delta(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)
