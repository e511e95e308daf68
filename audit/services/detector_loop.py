"""The detector's run loop over ports: read, restore, evaluate, store, commit.

Each partition of the routed topic this process owns is a
:class:`~audit.services.detection.DetectionTask`, restored from the same
partition of the changelog before it processes anything. After each batch,
in this order: detections are stored (by id, so idempotent) and handed to
the incident handler, changed state goes to the changelog and is flushed,
and only then are offsets committed. A crash anywhere before the commit
re-reads the batch, and the same state and the same events give the same
detection ids.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from audit.domain.detection.record import Detection
from audit.domain.detection.rules import RuleBase
from audit.services.detection import DetectionTask
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


@dataclass(frozen=True)
class DetectorConfig:
    lateness: timedelta
    late_horizon: timedelta = timedelta(days=1)
    poll_timeout_ms: int = 500


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
        messages = self.source.poll(self.config.poll_timeout_ms)
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
                    for detection in task.apply_event(routed):
                        found[detection.id] = detection
                processed += len(message.events)
            offsets[message.partition] = message.offset + 1
        self._housekeeping()
        self._store(list(found.values()))
        for task in self.tasks.values():
            changes = task.take_changes()
            if changes:
                self.changelog.write(task.partition, changes)
            for rule_id, count in task.take_late_counts().items():
                self.metrics.inc("audit_late_events_total", count)
                self.metrics.inc("audit_detection_events_too_late_total", count, rule=rule_id)
            sample = task.take_too_late()
            if sample and self.too_late is not None:
                self.too_late.record(sample)
        if self.too_late is not None:
            self.too_late.flush()
        self.changelog.flush()
        if offsets:
            self.source.commit(offsets)
        if processed:
            self.metrics.inc("audit_detector_events_total", processed)
        return processed

    def _housekeeping(self) -> None:
        now = self.monotonic()
        last = self._last_housekeeping
        if last is not None and now - last < HOUSEKEEPING_SECONDS:
            return
        self._last_housekeeping = now
        state_bytes = 0.0
        per_rule: Counter[str] = Counter({rule.id: 0 for rule in self.rules})
        for task in self.tasks.values():
            task.expire()
            state_bytes += task.state_bytes()
            per_rule.update(task.keys_per_rule())
        self.metrics.set("audit_detection_state_bytes", state_bytes)
        for rule_id, count in per_rule.items():
            self.metrics.set("audit_detection_state_keys", count, rule_id=rule_id)

    def _store(self, found: list[Detection]) -> None:
        if not found:
            return
        now = self.clock()
        stamped = [detection.model_copy(update={"detected_at": now}) for detection in found]
        self.detections.put_many(stamped)
        for detection in stamped:
            self.raised += 1
            self.metrics.inc("audit_detections_total", rule_id=detection.rule_id)
            lag = (now - detection.last_seen).total_seconds()
            if 0 <= lag < 86_400:
                self.metrics.observe("audit_detection_latency_seconds", lag)
        if self.handler is not None:
            self.handler.handle_detections(stamped, now)

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
        return self.raised
