"""The detector's run loop over ports: read, restore, evaluate, store, commit.

Each partition of the routed topic this process owns is a
:class:`~audit.services.detection.DetectionTask`, restored from the same
partition of the changelog before it processes anything. After each batch,
in this order: detections are stored (by id, so idempotent) and handed to
the incident handler, changed state goes to the changelog and is flushed,
and only then are offsets committed. A crash anywhere before the commit
re-reads the batch, and the same state and the same events give the same
detection ids.

That write-out runs on one worker thread while the next records are read
and evaluated (issue 12: alerts on arrival): storing a batch's detections
and handing them to incidents takes seconds under load, and evaluation
must not wait for it. Batches evaluated meanwhile are merged (the latest
version of each detection and of each key's state) and written out
together when the worker is free, in the same order as above; their offsets
are committed once that write-out is done. Before a partition is taken
away, whatever was evaluated is written out first (:meth:`DetectorLoop.settle`),
so its next owner restores the state its offsets lead to.

State goes to the changelog (and offsets are committed) at most every
``state_interval`` seconds; detections are written out every turn. A busy
key changes in every turn, and written every turn its state cost more than
its evaluation (1.1-1.2 s of serialization per 0.5 s of traffic once
session windows held three minutes at 5,000 events/s, when a key's record
was its whole window; busy keys are now written as the time segments
that changed, :mod:`audit.domain.detection.segments`). What a crash costs
instead: the turns since the last state write-out are read and evaluated
again, and give the same detection ids. Kafka Streams makes the same trade
with its commit interval. The loop's thread only takes a snapshot of each
changed key (its window's references); the worker encodes them. Should
encoding still cost more as windows fill, the next write-out of
state then waits until that cost is at most ``STATE_COST_SHARE`` of the
time between two, so evaluation keeps most of the process however large
the state grows (a crash re-reads more, up to ``MAX_UNWRITTEN_RECORDS``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from audit.domain.detection.engine import TooLate
from audit.domain.detection.record import Detection
from audit.domain.detection.rules import RuleBase
from audit.services.detection import Change, DetectionTask
from audit.services.ports.detection import (
    DetectionHandler,
    DetectionWriter,
    Liveness,
    RoutedSource,
    StateChangelog,
    TooLateSink,
)
from audit.services.ports.ingest import MetricsRecorder

log = logging.getLogger(__name__)

#: Expiry and the state gauges walk every key: every 30 s, not per batch.
HOUSEKEEPING_SECONDS = 30.0
#: A turn (after its poll) longer than this is logged with its breakdown.
SLOW_TURN_SECONDS = 1.0


#: While a write-out is in flight or evaluated batches wait for one, a poll
#: waits at most this long, so that a finished write-out is committed and
#: the next one started promptly; it still returns as soon as records come.
BUSY_POLL_MS = 20
#: Evaluated records waiting for a write-out of state, beyond which the
#: loop waits for one instead of reading on (bounds what a crash re-reads:
#: 200 s at 5,000 events/s, evaluated again in about half a minute).
MAX_UNWRITTEN_RECORDS = 1_000_000
#: Share of the detector's thread that serializing state may take at most.
STATE_COST_SHARE = 0.2


@dataclass(frozen=True)
class DetectorConfig:
    lateness: timedelta
    late_horizon: timedelta = timedelta(days=1)
    poll_timeout_ms: int = 500
    #: Seconds between two write-outs of state (and commits); 0: every turn.
    state_interval: float = 5.0


@dataclass
class _Unwritten:
    """What evaluated batches leave to write out, merged: the latest version
    of each detection and, when it carries state, of each key's state and the
    offsets that state covers (committed once it is written out)."""

    detections: dict[str, Detection] = field(default_factory=dict)
    changes: dict[int, dict[str, Change]] = field(default_factory=dict)
    tasks: dict[int, DetectionTask] = field(default_factory=dict)  # whose changes
    too_late: list[TooLate] = field(default_factory=list)
    offsets: dict[int, int] = field(default_factory=dict)
    now: datetime | None = None
    #: Seconds of taking the state's snapshots (the loop's thread) and of
    #: encoding and writing them (CPU of the worker's).
    took: float = 0.0
    encoded: float = 0.0

    def __bool__(self) -> bool:
        return bool(self.detections or self.changes or self.too_late or self.offsets)


class DetectorLoop:
    def __init__(
        self,
        rules: Sequence[RuleBase],
        config: DetectorConfig,
        source: RoutedSource,
        changelog: StateChangelog,
        detections: DetectionWriter,
        handler: DetectionHandler | None,
        metrics: MetricsRecorder,
        liveness: Liveness,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        too_late: TooLateSink | None = None,
    ) -> None:
        self.rules = [rule for rule in rules if rule.enabled]
        # Each rule's too-late series exists from the start at 0: Prometheus's
        # increase() then sees a rule's first too-late event as a rise, not as
        # a series that appeared already counting.
        for rule in self.rules:
            metrics.inc("audit_detection_events_too_late_total", 0, rule=rule.id)
        self.config = config
        self.source = source
        self.changelog = changelog
        self.detections = detections
        self.handler = handler
        self.metrics = metrics
        self.liveness = liveness
        self.clock = clock
        self.monotonic = monotonic
        self.too_late = too_late
        self.tasks: dict[int, DetectionTask] = {}
        self.raised = 0
        self.stop = False
        self._sources: list[str] | None = None
        self._last_housekeeping: float | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detections")
        self._unwritten = _Unwritten()
        self._in_flight: tuple[Future[None], _Unwritten] | None = None
        # Evaluated since the last write-out of state began: the offsets
        # that state will cover, and how many records a crash would re-read.
        self._uncommitted: dict[int, int] = {}
        self._uncommitted_records = 0
        self._state_taken_at = monotonic()
        self._state_gap = config.state_interval  # until the next write-out of state
        self._closed = False

    def _rebalance(self) -> None:
        changes = self.source.take_assignment_changes()
        for partition in changes.revoked:
            self.tasks.pop(partition, None)
        for partition in sorted(changes.assigned):
            if partition in self.tasks:
                continue
            if self._sources is None:
                self._sources = self.source.expected_sources()
            task = DetectionTask(
                partition,
                self.rules,
                lateness=self.config.lateness,
                expected_sources=self._sources,
                late_horizon=self.config.late_horizon,
            )
            restored = task.restore(self.changelog.read(partition))
            log.info("partition %d: restored %d keys from the changelog", partition, restored)
            self.tasks[partition] = task

    def run_once(self) -> int:
        """One batch; returns how many routed records were evaluated."""
        clock = self.monotonic
        timeout = self.config.poll_timeout_ms
        if self._in_flight is not None or self._unwritten:
            timeout = min(timeout, BUSY_POLL_MS)
        began = clock()
        messages = self.source.poll(timeout)
        polled = clock()
        self._rebalance()
        found: dict[str, Detection] = {}
        offsets: dict[int, int] = {}
        processed = 0
        for message in messages:
            task = self.tasks.get(message.partition)
            if task is None:
                continue
            if message.sources is not None:
                for detection in task.apply_progress(message.sources):
                    found[detection.id] = detection
            else:
                for routed in message.events:
                    task.feed_event(routed)
                processed += len(message.events)
            offsets[message.partition] = message.offset + 1
        # A burst updates its detection on every event: built once a turn.
        for task in self.tasks.values():
            for detection in task.take_detections():
                found[detection.id] = detection
        evaluated = clock()
        self._housekeeping()
        housekept = clock()
        self._take(found, offsets, processed)
        self._write_out(wait=self._uncommitted_records >= MAX_UNWRITTEN_RECORDS)
        if processed:
            self.metrics.inc("audit_detector_events_total", processed)
        done = clock()
        if done - polled >= SLOW_TURN_SECONDS:
            # Records read during a slow turn wait for it: say where it went.
            log.info(
                "slow turn %.2fs: poll %.2f, evaluate %d records %.2f, housekeeping %.2f,"
                " %d detections, take state and hand over %.2f",
                done - began,
                polled - began,
                processed,
                evaluated - polled,
                housekept - evaluated,
                len(found),
                done - housekept,
            )
        return processed

    def _take(self, found: dict[str, Detection], offsets: dict[int, int], records: int) -> None:
        """Stamp this batch's detections and add them to what waits for the
        next write-out; its offsets wait for the next write-out of state (the
        state it changed is taken when that one starts: :meth:`_take_state`)."""
        unwritten = self._unwritten
        if found:
            # Stamped when found, not when stored: the write-out may wait.
            now = self.clock()
            unwritten.now = now
            for detection_id, detection in found.items():
                unwritten.detections[detection_id] = detection.model_copy(
                    update={"detected_at": now}
                )
        for task in self.tasks.values():
            for rule_id, count in task.take_late_counts().items():
                self.metrics.inc("audit_late_events_total", count)
                self.metrics.inc("audit_detection_events_too_late_total", count, rule=rule_id)
            unwritten.too_late.extend(task.take_too_late())
        _merge(self._uncommitted, offsets)
        self._uncommitted_records += records

    def _state_due(self) -> bool:
        if self.config.state_interval <= 0:
            return True
        return self.monotonic() - self._state_taken_at >= self._state_gap

    def _take_state(self) -> None:
        """The changed keys' state as it stands now, when a write-out is
        about to start: the state the pending offsets lead to, taken once
        for all the turns since the last. Each key is a snapshot (its
        window's references copied); the worker encodes them, the part
        that costs: serializing whole windows on this thread stalled
        evaluation for seconds once they filled."""
        began = self.monotonic()
        unwritten = self._unwritten
        for task in self.tasks.values():
            changes = task.take_snapshots()
            if changes:
                unwritten.changes.setdefault(task.partition, {}).update(changes)
                unwritten.tasks[task.partition] = task
        _merge(unwritten.offsets, self._uncommitted)
        self._uncommitted = {}
        self._uncommitted_records = 0
        self._state_taken_at = taken = self.monotonic()
        unwritten.took += taken - began

    def _written(self, done: _Unwritten) -> None:
        """A write-out finished: commit what its state covers; the next
        write-out of state waits until this one's cost is a small share."""
        if done.offsets:
            self.source.commit(done.offsets)
        if done.changes:
            cost = done.took + done.encoded
            self._state_gap = max(self.config.state_interval, cost / STATE_COST_SHARE)

    def _write_out(self, *, wait: bool) -> None:
        """Commit a finished write-out; start the next if anything waits.

        ``wait``: block until everything evaluated so far, state included,
        is written out and committed. A failed write-out raises here (nothing
        of it or after it is committed: it is all read again after a restart).
        """
        while True:
            if self._in_flight is not None:
                future, done = self._in_flight
                if not wait and not future.done():
                    return
                future.result()
                self._in_flight = None
                self._written(done)
            if wait or self._state_due():
                self._take_state()
            if not self._unwritten:
                return
            unwritten, self._unwritten = self._unwritten, _Unwritten()
            self._in_flight = (self._worker.submit(self._store, unwritten), unwritten)
            if not wait:
                return

    def settle(self) -> None:
        """Write out everything evaluated so far, without committing (called
        while partitions are being taken away: the consumer cannot commit
        from inside its rebalance; the offsets are committed after the poll,
        for the partitions still owned)."""
        if self._closed:
            return
        self._take_state()
        if self._in_flight is not None:
            future, done = self._in_flight
            future.result()
            if not self._unwritten:
                return  # its offsets are committed after the poll
            # Replaced below: the next write-out commits its offsets too.
            _merge(self._unwritten.offsets, done.offsets)
        if self._unwritten:
            unwritten, self._unwritten = self._unwritten, _Unwritten()
            future = self._worker.submit(self._store, unwritten)
            future.result()
            self._in_flight = (future, unwritten)

    def _housekeeping(self) -> None:
        now = self.monotonic()
        last = self._last_housekeeping
        if last is not None and now - last < HOUSEKEEPING_SECONDS:
            return
        self._last_housekeeping = now
        state_bytes = 0
        per_rule: Counter[str] = Counter({rule.id: 0 for rule in self.rules})
        entries: Counter[str] = Counter({rule.id: 0 for rule in self.rules})
        for task in self.tasks.values():
            task.expire()
            state_bytes += task.state_bytes()
            keys, held = task.state_per_rule()
            per_rule.update(keys)
            entries.update(held)
        self.metrics.set("audit_detection_state_bytes", state_bytes)
        for rule_id, count in per_rule.items():
            self.metrics.set("audit_detection_state_keys", count, rule_id=rule_id)
        for rule_id, count in entries.items():
            self.metrics.set("audit_detection_state_entries", count, rule_id=rule_id)

    def _store(self, unwritten: _Unwritten) -> None:
        """On the worker: detections stored and handed on, then the state
        that produced them to the changelog, flushed (the caller commits)."""
        found = list(unwritten.detections.values())
        if found:
            self.detections.put_many(found)
            for detection in found:
                self.raised += 1
                self.metrics.inc("audit_detections_total", rule_id=detection.rule_id)
                found_at = detection.detected_at or self.clock()
                lag = (found_at - detection.last_seen).total_seconds()
                if 0 <= lag < 86_400:
                    self.metrics.observe("audit_detection_latency_seconds", lag)
            if self.handler is not None:
                self.handler.handle_detections(found, unwritten.now or self.clock())
        began = time.thread_time()
        for partition, changes in unwritten.changes.items():
            records = unwritten.tasks[partition].encode_changes(changes.items())
            self.changelog.write(partition, records)
        unwritten.encoded = time.thread_time() - began
        if unwritten.too_late and self.too_late is not None:
            self.too_late.record(unwritten.too_late)
        if self.too_late is not None:
            self.too_late.flush()
        if unwritten.changes:
            self.changelog.flush()

    def run(self, until_idle: float | None = None) -> int:
        """Batches until :attr:`stop` is set (or ``until_idle`` seconds with
        nothing to read, having committed); returns detections written."""
        idle_since = self.monotonic()
        while not self.stop:
            processed = self.run_once()
            # The poll and the commit returned: alive; ready while a broker
            # answers (a poll returns normally without one).
            self.liveness.beat()
            self.liveness.ready(self.source.reachable())
            if processed or not self.tasks:
                idle_since = self.monotonic()
            elif until_idle is not None and self.monotonic() - idle_since >= until_idle:
                break
        self._write_out(wait=True)
        return self.raised

    def close(self) -> None:
        """After :meth:`run`: what it did not write out (it failed) is read
        again on restart, not written now."""
        self._closed = True
        self._unwritten = _Unwritten()
        self._worker.shutdown(wait=True)


def _merge(into: dict[int, int], offsets: dict[int, int]) -> None:
    for partition, offset in offsets.items():
        into[partition] = max(offset, into.get(partition, -1))
