"""Detection for the partitions of the routed topic this process owns.

One :class:`DetectionTask` per partition: its own engine (window state per
group key) and its own source clocks (watermark), restored from the same
partition of the changelog before it processes anything. A partition moving
to another process moves exactly that state with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import orjson

from audit.domain.detection import DetectionEngine, RoutedEvent
from audit.domain.detection.engine import (
    DEFAULT_LATE_HORIZON,
    StateSnapshot,
    TooLate,
)
from audit.domain.detection.record import Detection
from audit.domain.detection.routing import from_us
from audit.domain.detection.rules import RuleBase
from audit.domain.detection.segments import SegmentedState, is_segment
from audit.domain.detection.watermarks import NEVER, SourceClocks

#: A changed key as taken: its state's snapshot, a record already encoded
#: (the source clocks), or None (deleted).
Change = StateSnapshot | bytes | None

#: Changelog key of a task's source clocks (never a rule's key: those
#: start with a rule id).
CLOCKS_KEY = "__clocks__"


class DetectionTask:
    def __init__(
        self,
        partition: int,
        rules: Sequence[RuleBase],
        *,
        lateness: timedelta,
        expected_sources: Iterable[str],
        late_horizon: timedelta = DEFAULT_LATE_HORIZON,
        segments: SegmentedState | None = None,
    ) -> None:
        self.partition = partition
        self.engine = DetectionEngine(rules, lateness=lateness, late_horizon=late_horizon)
        self.clocks = SourceClocks(expected_sources)
        self._clocks_changed = False
        self._late_reported = 0
        self._late_by_rule_reported: Counter[str] = Counter()
        # Bytes of each key's latest changelog record, and their sum: what
        # a restore of this partition reads, known without serializing.
        self._record_bytes: dict[str, int] = {}
        self._state_bytes = 0
        # Keys holding many events are written as a head and time segments.
        self._segments = segments or SegmentedState(
            pending_span_us=lateness // timedelta(microseconds=1)
        )

    def restore(self, entries: Iterable[tuple[str, bytes | None]]) -> int:
        """Replay the changelog partition (oldest first); returns the records
        of keys read (segments not counted)."""
        restored = 0
        engine, segments = self.engine, self._segments
        for key, value in entries:
            if key == CLOCKS_KEY:
                if value is not None:
                    self.clocks.load(orjson.loads(value))
                continue
            segments.read(engine, key, value)
            self._count_record(key, value)
            restored += not is_segment(key)
        segments.finish_restore(engine)
        clock = self.clocks.clock_us()
        if clock is not None:
            engine.advance(from_us(clock))
        engine.take_changed_keys()
        return restored

    def apply_event(self, routed: RoutedEvent) -> list[Detection]:
        """One record; the detections it opened or updated."""
        self.feed_event(routed)
        return self.engine.take_detections()

    def feed_event(self, routed: RoutedEvent) -> None:
        """One record; what it fires waits for :meth:`take_detections`."""
        # The watermark follows the sources' progress markers only: a record
        # must not move it by itself (its source may be ahead of others).
        self.engine.feed(routed._replace(clock_us=NEVER))

    def take_detections(self) -> list[Detection]:
        """Detections opened or updated since the last take, each once."""
        return self.engine.take_detections()

    def apply_progress(self, sources: Mapping[str, Any]) -> list[Detection]:
        for source, clock_us in sources.items():
            self.clocks.update(source, int(clock_us))
        self._clocks_changed = True
        clock = self.clocks.clock_us()
        if clock is None or clock == NEVER:
            return []
        return self.engine.advance(from_us(clock))

    def take_changes(self) -> list[tuple[str, bytes | None]]:
        """State to write to the changelog: each changed key (None: deleted)."""
        return self.encode_changes(self.take_snapshots())

    def take_snapshots(self) -> list[tuple[str, Change]]:
        """Each changed key's state as it stands now (None: deleted), to be
        encoded by :meth:`encode_changes`, on another thread if need be."""
        engine = self.engine
        # A restore's orphaned segments go first: a key may write there next.
        changes: list[tuple[str, Change]] = [(key, None) for key in self._segments.take_orphans()]
        changes.extend((key, engine.snapshot_state(key)) for key in engine.take_changed_keys())
        if self._clocks_changed:
            changes.append((CLOCKS_KEY, orjson.dumps(self.clocks.dump())))
            self._clocks_changed = False
        return changes

    def encode_changes(
        self, changes: Iterable[tuple[str, Change]]
    ) -> list[tuple[str, bytes | None]]:
        """Changelog records of :meth:`take_snapshots`' changes, in the
        order they must reach the topic (a key's segments before its head)."""
        records: list[tuple[str, bytes | None]] = []
        encode = self._segments.encode
        for key, change in changes:
            if isinstance(change, bytes):  # the source clocks
                records.append((key, change))
                continue
            for record in encode(key, change):
                self._count_record(*record)
                records.append(record)
        return records

    def expire(self) -> int:
        watermark = self.engine.watermark
        return 0 if watermark is None else self.engine.expire(watermark)

    def state_per_rule(self) -> tuple[dict[str, int], dict[str, int]]:
        """Group keys holding state, and the events (new_value: history
        values) they hold, per rule."""
        return self.engine.state_per_rule()

    def _count_record(self, key: str, value: bytes | None) -> None:
        size = 0 if value is None else len(value)
        self._state_bytes += size - self._record_bytes.pop(key, 0)
        if size:
            self._record_bytes[key] = size

    def state_bytes(self) -> int:
        """Bytes of this task's window state as last written to (or restored
        from) the changelog: behind the engine by at most one write-out.
        Sampling keys' state instead serialized up to 500 whole windows on
        the detector's thread at every housekeeping."""
        return self._state_bytes

    def take_late_counts(self) -> dict[str, int]:
        """Too-late events per rule since the last call."""
        now = self.engine.late_by_rule
        counts = {rule: n - self._late_by_rule_reported[rule] for rule, n in now.items()}
        self._late_by_rule_reported = Counter(now)
        return {rule: n for rule, n in counts.items() if n}

    def take_too_late(self) -> list[TooLate]:
        """A sample of the too-late events since the last call, with the reason."""
        return self.engine.take_too_late()

    def take_late_count(self) -> int:
        late = self.engine.late_events - self._late_reported
        self._late_reported = self.engine.late_events
        return late
