"""The detector's run loop: evaluation does not wait for the write-out of the
previous batch (issue 12), and offsets are still committed only after that
batch's detections are stored, handed on and its state is in the changelog.
State (and the commit) may wait for its interval; detections never do."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from audit.domain.detection.engine import StateSnapshot
from audit.domain.detection.record import Detection
from audit.domain.detection.routing import RoutedEvent
from audit.services import detector_loop
from audit.services.detection import Change
from audit.services.detector_loop import DetectorConfig, DetectorLoop
from audit.services.ports.detection import AssignmentChanges, RoutedMessage
from tests.unit.services.test_detection_task import SOURCES, routed_failures, rules


class _Source:
    def __init__(self, batches: list[list[RoutedEvent]]) -> None:
        self.batches = batches
        self.offset = 0
        self.log: list[str] = []
        self.first = True

    def poll(self, timeout_ms: int) -> list[RoutedMessage]:
        if not self.batches:
            return []
        events = self.batches.pop(0)
        self.offset += 1
        return [RoutedMessage(0, self.offset - 1, events=events)]

    def take_assignment_changes(self) -> AssignmentChanges:
        changes = AssignmentChanges(assigned={0} if self.first else set())
        self.first = False
        return changes

    def expected_sources(self) -> list[str]:
        return list(SOURCES)

    def reachable(self) -> bool:
        return True

    def commit(self, offsets: Mapping[int, int]) -> None:
        self.log.append(f"commit {dict(offsets)}")

    def close(self) -> None:
        pass


class _Changelog:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def write(self, partition: int, changes: Sequence[tuple[str, bytes | None]]) -> None:
        self.log.append(f"changelog {len(changes)}")

    def flush(self) -> None:
        self.log.append("changelog flushed")

    def read(self, partition: int) -> Iterator[tuple[str, bytes | None]]:
        return iter(())


class _Writer:
    """Blocks its first write until released: a slow Elasticsearch."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.release = threading.Event()
        self.stored: list[Detection] = []

    def put_many(self, detections: Sequence[Detection]) -> None:
        self.release.wait(10)
        self.stored.extend(detections)
        self.log.append(f"stored {[d.event_count for d in detections]}")


class _Handler:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def handle_detections(self, detections: Sequence[Detection], now: datetime) -> object:
        self.log.append(f"incidents {len(detections)}")
        return None


class _Metrics:
    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        pass

    def set(self, name: str, value: float, **labels: str) -> None:
        pass

    def observe(self, name: str, value: float, **labels: str) -> None:
        pass


class _Liveness:
    def beat(self) -> None:
        pass

    def ready(self, ok: bool) -> None:
        pass


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _loop(
    source: _Source,
    writer: _Writer,
    changelog: _Changelog | None = None,
    metrics: _Metrics | None = None,
    state_interval: float = 0.0,
    monotonic: _Clock | None = None,
) -> DetectorLoop:
    return DetectorLoop(
        rules(),
        DetectorConfig(lateness=timedelta(seconds=30), state_interval=state_interval),
        source,
        changelog or _Changelog(source.log),
        writer,
        _Handler(source.log),
        metrics or _Metrics(),
        _Liveness(),
        lambda: datetime(2026, 1, 1, tzinfo=UTC),
        monotonic=monotonic or _Clock(),
    )


def test_the_next_batch_is_evaluated_while_the_previous_one_is_written_out() -> None:
    burst = routed_failures(12)
    source = _Source([burst[:10], burst[10:]])
    writer = _Writer(source.log)
    loop = _loop(source, writer)
    try:
        assert loop.run_once() == 10  # fires on arrival; its write-out blocks
        assert loop.run_once() == 2  # evaluated anyway
        assert source.log == []  # nothing stored, nothing committed yet
        writer.release.set()
        loop.run(until_idle=0.0)
    finally:
        loop.close()
    # The second batch was merged while the first was written: the burst's
    # detection is stored at 10 events, then updated in place to 12; each
    # write-out stores, hands on, writes the state, and only then commits.
    assert source.log == [
        "stored [10]",
        "incidents 1",
        "changelog 1",
        "changelog flushed",
        "commit {0: 1}",
        "stored [12]",
        "incidents 1",
        "changelog 1",
        "changelog flushed",
        "commit {0: 2}",
    ]
    assert len({d.id for d in writer.stored}) == 1


def test_settle_writes_out_what_was_evaluated_without_committing() -> None:
    source = _Source([routed_failures(10)])
    writer = _Writer(source.log)
    writer.release.set()
    loop = _loop(source, writer)
    try:
        loop.run_once()
        loop.settle()  # a partition is being taken away, inside the poll
        assert "changelog flushed" in source.log
        assert not any(entry.startswith("commit") for entry in source.log)
    finally:
        loop.close()


class _RecordingChangelog(_Changelog):
    """Keeps what was written, per write-out."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(log)
        self.written: list[dict[str, bytes | None]] = []

    def write(self, partition: int, changes: Sequence[tuple[str, bytes | None]]) -> None:
        super().write(partition, changes)
        self.written.append(dict(changes))


def test_state_changed_while_the_worker_is_busy_is_serialized_once_as_it_stands() -> None:
    burst = routed_failures(13)
    source = _Source([burst[:10], burst[10:11], burst[11:12], burst[12:]])
    writer = _Writer(source.log)
    changelog = _RecordingChangelog(source.log)
    loop = _loop(source, writer, changelog=changelog)
    try:
        loop.run_once()  # fires; the write-out of batch 1 blocks
        (task,) = loop.tasks.values()
        serialized: list[str] = []
        snapshot = task.engine.snapshot_state

        def counted(key: str) -> StateSnapshot | None:
            serialized.append(key)
            return snapshot(key)

        task.engine.snapshot_state = counted  # type: ignore[method-assign]
        for _ in range(3):
            loop.run_once()  # each changes the same key while the worker waits
        assert serialized == []
        writer.release.set()
        loop.run(until_idle=0.0)
    finally:
        loop.close()
    # One serialization for the three turns, taken when the second
    # write-out started: the key as it stands after the last of them.
    key = burst[0].key
    assert serialized == [key]
    assert [list(written) for written in changelog.written] == [[key], [key]]
    state = changelog.written[-1][key]
    assert state is not None
    assert orjson.loads(state)["floor"][0] == burst[12].time_us
    assert source.log[-1] == "commit {0: 4}"


class _RecordingMetrics(_Metrics):
    def __init__(self) -> None:
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def set(self, name: str, value: float, **labels: str) -> None:
        self.gauges[(name, tuple(sorted(labels.items())))] = value


def test_housekeeping_reports_the_events_each_rule_holds() -> None:
    # Five failures, under brute force's threshold: all five stay windowed.
    source = _Source([routed_failures(5)])
    writer = _Writer(source.log)
    writer.release.set()
    metrics = _RecordingMetrics()
    loop = _loop(source, writer, metrics=metrics)
    try:
        loop.run_once()
    finally:
        loop.close()
    rule = (("rule_id", "auth.brute_force"),)
    assert metrics.gauges[("audit_detection_state_entries", rule)] == 5
    assert metrics.gauges[("audit_detection_state_keys", rule)] == 1


def test_detections_are_written_every_turn_and_state_with_the_commit_at_its_interval() -> None:
    burst = routed_failures(12)
    source = _Source([burst[:10], burst[10:]])
    writer = _Writer(source.log)
    writer.release.set()
    clock = _Clock()
    loop = _loop(source, writer, state_interval=5.0, monotonic=clock)
    try:
        loop.run_once()  # fires on arrival: written at once, state waits
        _finish_write_out(loop)
        loop.run_once()  # the same detection updated in place
        _finish_write_out(loop)
        assert source.log == ["stored [10]", "incidents 1", "stored [12]", "incidents 1"]
        clock.now += 5.0
        loop.run_once()  # nothing read; the state is due
        _finish_write_out(loop)
    finally:
        loop.close()
    assert source.log[4:] == ["changelog 1", "changelog flushed", "commit {0: 2}"]


def _finish_write_out(loop: DetectorLoop) -> None:
    """Let the write-out in flight finish and be committed, as the next turn would."""
    if loop._in_flight is not None:
        loop._in_flight[0].result()
    loop._write_out(wait=False)
    if loop._in_flight is not None:
        loop._in_flight[0].result()


class _ServingChangelog(_RecordingChangelog):
    """Serves what was written, as the compacted topic would on restore."""

    def read(self, partition: int) -> Iterator[tuple[str, bytes | None]]:
        merged: dict[str, bytes | None] = {}
        for written in self.written:
            merged.update(written)
        return iter(merged.items())


def test_a_crash_before_the_state_is_due_re_reads_and_gives_the_same_detection() -> None:
    burst = routed_failures(12)
    changelog = _ServingChangelog([])
    stored: list[Detection] = []
    for _ in range(2):  # the second run is the restart: nothing was committed
        source = _Source([burst[:10], burst[10:]])
        writer = _Writer(source.log)
        writer.release.set()
        loop = _loop(source, writer, changelog=changelog, state_interval=5.0)
        try:
            loop.run_once()
            loop.run_once()
            _finish_write_out(loop)
        finally:
            loop.close()  # a crash: what was not written out is dropped
        assert not any(entry.startswith("commit") for entry in source.log)
        assert changelog.written == []
        stored.extend(writer.stored)
    assert len({d.id for d in stored}) == 1
    assert {d.event_count for d in stored} == {10, 12}


def test_settle_writes_state_out_before_its_interval() -> None:
    source = _Source([routed_failures(10)])
    writer = _Writer(source.log)
    writer.release.set()
    changelog = _RecordingChangelog(source.log)
    loop = _loop(source, writer, changelog=changelog, state_interval=60.0)
    try:
        loop.run_once()
        loop.settle()  # a partition is being taken away
        assert changelog.written and "changelog flushed" in source.log
        loop.run_once()  # after the poll: the settled offsets are committed
    finally:
        loop.close()
    assert source.log[-1] == "commit {0: 1}"


def test_too_many_records_without_state_wait_for_a_write_out_of_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(detector_loop, "MAX_UNWRITTEN_RECORDS", 8)
    burst = routed_failures(12)
    source = _Source([burst[:5], burst[5:10]])
    writer = _Writer(source.log)
    writer.release.set()
    loop = _loop(source, writer, state_interval=60.0)
    try:
        loop.run_once()
        assert not any(entry.startswith("changelog") for entry in source.log)
        loop.run_once()  # 10 records past the bound: state and commit now
        assert source.log[-1] == "commit {0: 2}"
    finally:
        loop.close()


def test_state_that_takes_long_to_serialize_is_written_out_less_often() -> None:
    burst = routed_failures(12)
    source = _Source([burst[:3], burst[3:6], burst[6:9], burst[9:]])
    writer = _Writer(source.log)
    writer.release.set()
    changelog = _RecordingChangelog(source.log)
    clock = _Clock()
    loop = _loop(source, writer, changelog=changelog, state_interval=5.0, monotonic=clock)
    try:
        loop.run_once()
        (task,) = loop.tasks.values()
        take = task.take_snapshots

        def slow() -> list[tuple[str, Change]]:
            clock.now += 3.0  # taking this state takes 3 s
            return take()

        task.take_snapshots = slow  # type: ignore[method-assign]
        clock.now += 5.0
        loop.run_once()  # due: written, and it took 3 s
        _finish_write_out(loop)
        assert len(changelog.written) == 1
        clock.now += 5.0
        loop.run_once()  # the interval has passed, but 3 s is more than a fifth of it
        _finish_write_out(loop)
        assert len(changelog.written) == 1
        clock.now += 11.0  # 16 s after: 3 s (and the worker's encoding) under a fifth
        loop.run_once()
        _finish_write_out(loop)
        assert len(changelog.written) == 2
    finally:
        loop.close()
