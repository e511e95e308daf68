"""A key's changelog state written in time segments once its windows grow.

Written whole, a key's changelog record is its whole window, and a busy key
changes in every write-out: at 5,000 events/s the session keys' 30-minute
windows made each write-out of state 175 MB and 1.1 s of CPU by their third
minute, and it grows with the window (issue 12). A key holding at least
``min_events`` events is written instead as a *head* and *segments*:

* each of its event sequences (the evaluator's, :meth:`Evaluator.sequences`,
  and last the events pending for the watermark) is cut by event time into
  segments ``width_us`` wide; a segment is one record of its own,
  ``[start, [event, ...]]``;
* the head is the key's record without those events (``state_doc``, the
  evaluator's rest as ``data``) and, per sequence, the segments it is made
  of: ``[start, side, skip]``, the segment's record less its first ``skip``
  events (those that left the window since it was written);
* a write-out writes only the segments whose held events are not the tail
  of what was written: usually just the newest, where new events land. The
  cost of a write-out follows what changed, not what is held.

Crash safety. A write-out can be cut anywhere; the detector then restores
and evaluates its uncommitted records again, so each key must restore to
the state of a head as it was written. A segment record is therefore never
overwritten while the last head written refers to it: each ring position
has two slots (``side`` 0 and 1), a rewrite goes to the slot the last head
does not use, and a write-out sends its segments, then the head, then
tombstones for the slots the new head no longer uses. Whatever prefix of
that reached the topic, the latest head of every key refers to records
written before it and not since. What a cut leaves behind (segments with no
head referring to them) is found at restore and tombstoned first in the
next write-out.

Bounded keys. A segment's record key is ``PREFIX seq.position.side NUL key``,
where ``position`` is its start modulo a ring spanning what the sequence
can hold (:attr:`Evaluator.held_span_us`: a window and the lateness; pending
events: the lateness): a key never uses more than ``2 x ring`` record keys
per sequence however long it lives, so the compacted topic does not fill
with keys of segments long gone. A key whose held events span more than
the ring (pending events behind a stalled watermark) is written whole, as
is a key whose rings or width differ from what was written (the rule or
the lateness changed).

Restore reads the latest head of each key after the whole partition: an
older head in a compacted topic may refer to slots rewritten since.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson

from audit.domain.detection.engine import DetectionEngine, StateSnapshot, encode_state, state_doc
from audit.domain.detection.routing import RoutedEvent
from audit.domain.detection.state import DUMPED_FROM

#: Every segment record's key starts with this; a key's own record starts
#: with its rule id, the clocks' with ``__``.
PREFIX = "\x00seg\x00"
#: Width of a segment in event time.
SEGMENT_US = 30_000_000
#: A key holding fewer events than this is written whole (most keys: a
#: head and a segment would only add records); once segmented, it is
#: written whole again below half of it.
MIN_EVENTS = 64
#: What pending events can span unless told (the engine's default lateness).
PENDING_SPAN_US = 120_000_000

_time_of = itemgetter(RoutedEvent._fields.index("time_us"))


def slot_key(key: str, sequence: int, position: int, side: int) -> str:
    return f"{PREFIX}{sequence}.{position}.{side}\x00{key}"


def owner_of(slot: str) -> str:
    """The key whose segment ``slot`` is."""
    return slot[len(PREFIX) :].split("\x00", 1)[1]


def is_segment(key: str) -> bool:
    return key.startswith(PREFIX)


def ring_of(reach_us: int, width_us: int) -> int:
    """Ring positions enough for every segment a key's events can span."""
    return reach_us // width_us + 3


def split(events: Sequence[RoutedEvent], width_us: int) -> Iterator[tuple[int, Any]]:
    """``events`` (in event-time order) as (segment start, events of it)."""
    count = len(events)
    first = 0
    while first < count:
        start = _time_of(events[first]) // width_us * width_us
        end = bisect.bisect_left(events, start + width_us, first, count, key=_time_of)
        yield start, events[first:end]
        first = end


@dataclass(slots=True)
class _Layout:
    """One event sequence of a key as the last head written refers to it."""

    #: the sequence's events the key held then, in order: the segments'
    #: held events one after the other
    flat: tuple[RoutedEvent, ...]
    #: per segment, in start order: its start, its events the key held,
    #: its reference in the head ([start, side, skip]: its record less its
    #: first ``skip`` events) and its record key
    starts: list[int]
    held: list[int]
    refs: list[list[int]]
    slots: list[str]


@dataclass(slots=True)
class _Written:
    """What the last head written of a key refers to."""

    rings: list[int]
    width_us: int
    layouts: list[_Layout]
    #: the segment records the head refers to (the key's only live ones)
    slots: set[str]


class SegmentedState:
    """Per changelog partition: which segments each key's last head refers to.

    :meth:`encode` runs on the detector's worker, one write-out at a time;
    :meth:`read` and :meth:`finish_restore` before any write-out.
    """

    def __init__(
        self,
        *,
        min_events: int = MIN_EVENTS,
        width_us: int = SEGMENT_US,
        pending_span_us: int = PENDING_SPAN_US,
    ) -> None:
        self.min_events = min_events
        self.width_us = width_us
        self.pending_span_us = pending_span_us
        self._written: dict[str, _Written] = {}
        self._orphans: list[str] = []
        #: Compare every written segment with the events, not only the
        #: last (tests: the shortcut must write what this writes).
        self._compare_every_segment = False
        # while restoring
        self._slots: dict[str, bytes] = {}
        self._heads: dict[str, dict[str, Any]] = {}

    # -- writing --------------------------------------------------------

    def encode(self, key: str, snapshot: StateSnapshot | None) -> list[tuple[str, bytes | None]]:
        """The records that write ``key``'s new state (None: delete it), in
        the order they must reach the topic."""
        written = self._written.get(key)
        if snapshot is not None:
            rest, sequences = snapshot.evaluator.sequences(snapshot.data)
            sequences.append(snapshot.pending)
            held = sum(map(len, sequences))
            if held >= (self.min_events if written is None else self.min_events // 2):
                records = self._segmented(key, snapshot, rest, sequences, written)
                if records is not None:
                    return records
        records = [(key, encode_state(snapshot))]
        if written is not None:
            del self._written[key]
            records.extend((slot, None) for slot in sorted(written.slots))
        return records

    def _segmented(
        self,
        key: str,
        snapshot: StateSnapshot,
        rest: Any,
        sequences: list[tuple[RoutedEvent, ...]],
        written: _Written | None,
    ) -> list[tuple[str, bytes | None]] | None:
        width = self.width_us
        rings = self._rings(snapshot.evaluator.held_span_us, len(sequences))
        if written is not None and (written.rings, written.width_us) != (rings, width):
            return None  # through the whole form: old and new slots could meet
        before = written.layouts if written is not None else []
        records: list[tuple[str, bytes | None]] = []
        layouts: list[_Layout] = []
        for index, events in enumerate(sequences):
            old = before[index] if index < len(before) else None
            layout = self._lay_out(key, index, rings[index], events, old, records)
            if layout is None:
                return None  # the events span more than the ring
            layouts.append(layout)
        head = state_doc(snapshot, pending=False)  # pending: the last sequence
        head["data"] = rest
        head["segments"] = {
            "rings": rings,
            "width": width,
            "seqs": [layout.refs for layout in layouts],
        }
        records.append((key, orjson.dumps(head)))
        slots: set[str] = set().union(*(layout.slots for layout in layouts))
        if written is not None:
            records.extend((slot, None) for slot in sorted(written.slots - slots))
        self._written[key] = _Written(rings, width, layouts, slots)
        return records

    def _lay_out(
        self,
        key: str,
        index: int,
        ring: int,
        events: tuple[RoutedEvent, ...],
        old: _Layout | None,
        records: list[tuple[str, bytes | None]],
    ) -> _Layout | None:
        """Sequence ``index`` of ``key`` cut into segments; the records of
        those to (re)write go to ``records``. None: it spans more than
        ``ring``."""
        width = self.width_us
        layout, kept, tail_from = self._unchanged(events, old)
        starts, held, refs, slots = layout.starts, layout.held, layout.refs, layout.slots
        sides: dict[int, int] | None = None
        for start, part in split(events[tail_from:] if tail_from else events, width):
            size = len(part)
            position = start // width % ring
            was = kept.get(start)
            if was is not None and size <= len(was[0]) and was[0][len(was[0]) - size :] == part:
                _, side, length = was
                slot = slot_key(key, index, position, side)
            else:
                if sides is None:
                    # never over a record the last head written refers to
                    sides = (
                        {s // width % ring: r[1] for s, r in zip(old.starts, old.refs, strict=True)}
                        if old is not None
                        else {}
                    )
                side = 1 - sides.get(position, 1)
                length = size
                slot = slot_key(key, index, position, side)
                body = orjson.dumps([start, [e[DUMPED_FROM:] for e in part]])
                records.append((slot, body))
            starts.append(start)
            held.append(size)
            refs.append([start, side, length - size])
            slots.append(slot)
        if starts and (starts[-1] - starts[0]) // width >= ring:
            return None
        return layout

    def _unchanged(
        self, events: tuple[RoutedEvent, ...], old: _Layout | None
    ) -> tuple[_Layout, dict[int, tuple[tuple[RoutedEvent, ...], int, int]], int]:
        """What of ``old`` the new ``events`` leave as written: a layout of
        the segments known unchanged; the written segments the events from
        ``tail_from`` on may still be the tail of (start -> their events
        held, side, record length); and ``tail_from``."""
        layout = _Layout(events, [], [], [], [])
        kept: dict[int, tuple[tuple[RoutedEvent, ...], int, int]] = {}
        if old is None or not old.starts:
            return layout, kept, 0
        count = len(old.starts)
        last = old.starts[-1]
        before_last = len(old.flat) - old.held[-1]
        cut = bisect.bisect_left(events, last, key=_time_of)
        dropped = before_last - cut
        if (
            self._compare_every_segment
            or dropped < 0
            or events[:cut] != old.flat[dropped:before_last]
        ):
            offset = 0
            for start, size, (_, side, skip) in zip(old.starts, old.held, old.refs, strict=True):
                kept[start] = (old.flat[offset : offset + size], side, skip + size)
                offset += size
            return layout, kept, 0
        # The usual change: events appended from the last segment on, the
        # oldest gone. The segments before the last keep their records (one
        # comparison in C above, not one per segment); the first one left
        # loses what was dropped.
        first = 0
        while first < count - 1 and old.held[first] <= dropped:
            dropped -= old.held[first]
            first += 1
        layout.starts = old.starts[first : count - 1]
        layout.held = old.held[first : count - 1]
        layout.refs = old.refs[first : count - 1]
        layout.slots = old.slots[first : count - 1]
        if dropped:
            layout.held[0] -= dropped
            start, side, skip = layout.refs[0]
            layout.refs[0] = [start, side, skip + dropped]
        side, skip = old.refs[-1][1], old.refs[-1][2]
        kept[last] = (old.flat[before_last:], side, skip + old.held[-1])
        return layout, kept, cut

    def _rings(self, span_us: int, count: int) -> list[int]:
        """Per sequence, its ring: the evaluator's sequences, then pending."""
        width = self.width_us
        return [ring_of(span_us, width)] * (count - 1) + [ring_of(self.pending_span_us, width)]

    def take_orphans(self) -> list[str]:
        """Segment records no head refers to (left by a write-out cut short),
        found by the restore: to be tombstoned before anything else."""
        orphans, self._orphans = self._orphans, []
        return orphans

    # -- restoring ------------------------------------------------------

    def read(self, engine: DetectionEngine, key: str, value: bytes | None) -> None:
        """One changelog record, oldest first. A key's whole record is loaded
        at once; a head waits for :meth:`finish_restore`."""
        if is_segment(key):
            if value is None:
                self._slots.pop(key, None)
            else:
                self._slots[key] = value
            return
        self._heads.pop(key, None)
        self._written.pop(key, None)
        if value is None:
            engine.load_state(key, None)
            return
        doc = orjson.loads(value)
        if "segments" in doc:
            self._heads[key] = doc
        else:
            engine.load_doc(key, doc)

    def finish_restore(self, engine: DetectionEngine) -> None:
        """Load the latest head of each key from its segments; what no head
        refers to becomes an orphan."""
        referenced: set[str] = set()
        for key, doc in self._heads.items():
            referenced |= self._load_head(engine, key, doc)
        self._orphans = sorted(set(self._slots) - referenced)
        self._slots = {}
        self._heads = {}

    def _load_head(self, engine: DetectionEngine, key: str, doc: dict[str, Any]) -> set[str]:
        shape = doc.pop("segments")
        rings, width, layout = [int(r) for r in shape["rings"]], int(shape["width"]), shape["seqs"]
        evaluator = engine.evaluator(doc.get("rule_id", ""))
        if evaluator is None:
            # a rule this engine does not run: its records are left as written
            return {
                slot_key(key, index, start // width % rings[index], side)
                for index, refs in enumerate(layout)
                for start, side, _ in refs
            }
        slots: set[str] = set()
        lengths: list[dict[int, tuple[int, int]]] = []
        sequences: list[list[Any]] = []
        for index, refs in enumerate(layout):
            events: list[Any] = []
            sizes: dict[int, tuple[int, int]] = {}
            ring = rings[index]
            for start, side, skip in refs:
                slot = slot_key(key, index, start // width % ring, side)
                raw = self._slots.get(slot)
                if raw is None:
                    raise ValueError(f"state of {key!r} refers to segment {slot!r}, not found")
                written_start, items = orjson.loads(raw)
                if written_start != start:
                    raise ValueError(
                        f"segment {slot!r} of {key!r} starts at {written_start}, not {start}"
                    )
                events.extend(items[skip:])
                sizes[start] = (side, len(items))
                slots.add(slot)
            sequences.append(events)
            lengths.append(sizes)
        doc["pending"] = sequences.pop()
        doc["data"] = evaluator.raw_of_sequences(doc.get("data"), sequences)
        engine.load_doc(key, doc)
        snapshot = engine.snapshot_state(key)
        held: list[tuple[RoutedEvent, ...]] = []
        if snapshot is not None:
            held = evaluator.sequences(snapshot.data)[1]
            held.append(snapshot.pending)
        layouts: list[_Layout] = []
        for index, events_held in enumerate(held):
            sizes = lengths[index] if index < len(lengths) else {}
            ring = rings[index] if index < len(rings) else 1
            parts = [(start, part) for start, part in split(events_held, width) if start in sizes]
            layouts.append(
                _Layout(
                    tuple(chain.from_iterable(part for _, part in parts)),
                    [start for start, _ in parts],
                    [len(part) for _, part in parts],
                    [
                        [start, sizes[start][0], sizes[start][1] - len(part)]
                        for start, part in parts
                    ],
                    [
                        slot_key(key, index, start // width % ring, sizes[start][0])
                        for start, _ in parts
                    ],
                )
            )
        self._written[key] = _Written(rings, width, layouts, slots)
        return slots
