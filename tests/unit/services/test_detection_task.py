"""One partition's detection task: records in, detections out (on arrival for
monotone rules, once the sources' clocks pass otherwise), and state that
survives a crash through its changelog."""

from __future__ import annotations

from datetime import timedelta

from audit.domain.detection.routing import RoutedEvent, Router, to_us
from audit.domain.detection.rules import RuleBase
from audit.services.detection import CLOCKS_KEY, DetectionTask
from tests.unit.detection.helpers import at, detect, login_failure, pack

LATENESS = timedelta(seconds=30)
SOURCES = ("audit.events:0", "audit.events:1")


def rules() -> list[RuleBase]:
    return [pack()["auth.brute_force"]]


def routed_failures(count: int, user: str = "usr_1") -> list[RoutedEvent]:
    router = Router(rules())
    events = [login_failure(at(seconds=10 * i), user=user) for i in range(count)]
    return [record for e in events for record in router.route(e)]


def task() -> DetectionTask:
    return DetectionTask(0, rules(), lateness=LATENESS, expected_sources=SOURCES)


def progress(seconds: float) -> dict[str, int]:
    return dict.fromkeys(SOURCES, to_us(at(seconds=seconds)))


def test_a_threshold_fires_on_arrival_once_and_the_clock_adds_no_second_detection() -> None:
    """auth.brute_force is monotone (issue 12): it fires the moment the count is
    reached, before any source clock moves; the watermark passing it later must
    not raise another detection of the same burst."""
    detection_task = task()
    on_arrival = []
    for record in routed_failures(12):
        on_arrival += detection_task.apply_event(record)
    assert {d.rule_id for d in on_arrival} == {"auth.brute_force"}
    first_id = on_arrival[0].id
    # Later events of the burst update the same detection (same id), never a new one.
    assert {d.id for d in on_arrival} == {first_id}
    later = detection_task.apply_progress({SOURCES[0]: to_us(at(hours=1))})
    later += detection_task.apply_progress({SOURCES[1]: to_us(at(hours=1))})
    assert {d.id for d in later} <= {first_id}

    expected = detect("auth.brute_force", [login_failure(at(seconds=10 * i)) for i in range(12)])
    assert on_arrival[-1].event_count == expected[0].event_count


def test_state_written_to_the_changelog_restores_an_equivalent_task_after_a_crash() -> None:
    records = routed_failures(12)
    first = task()
    changelog: dict[str, bytes | None] = {}
    for record in records[:6]:
        first.apply_event(record)
    first.apply_progress(progress(55))
    for key, value in first.take_changes():
        changelog[key] = value
    assert CLOCKS_KEY in changelog
    assert first.take_changes() == []  # only what changed since the last take

    # The process dies; another one restores the partition from the changelog.
    second = task()
    restored = second.restore((key, value) for key, value in changelog.items() if value is not None)
    assert restored == len([k for k, v in changelog.items() if v is not None and k != CLOCKS_KEY])
    found = []
    for record in records[6:]:
        found += second.apply_event(record)
    found += second.apply_progress(progress(3600))

    uninterrupted = task()
    expected = []
    for record in records:
        expected += uninterrupted.apply_event(record)
    expected += uninterrupted.apply_progress(progress(3600))
    assert [(d.id, d.event_count) for d in found] == [(d.id, d.event_count) for d in expected]
    assert found


def test_records_behind_the_watermark_are_judged_in_the_late_lane_not_dropped() -> None:
    """Within the late horizon an event behind the watermark is still evaluated
    (issue 12, the late lane): nothing is counted too late."""
    detection_task = task()
    detection_task.apply_progress(progress(3600))
    found = []
    for record in routed_failures(12):
        found += detection_task.apply_event(record)
    assert {d.rule_id for d in found} == {"auth.brute_force"}
    assert detection_task.take_late_count() == 0


def test_records_beyond_the_late_horizon_are_counted_too_late_once() -> None:
    detection_task = DetectionTask(
        0, rules(), lateness=LATENESS, expected_sources=SOURCES, late_horizon=timedelta(hours=1)
    )
    detection_task.apply_progress(progress(3 * 3600))
    for record in routed_failures(3):
        assert detection_task.apply_event(record) == []
    assert detection_task.take_late_count() == 3
    assert detection_task.take_late_count() == 0
    assert detection_task.take_late_counts() == {"auth.brute_force": 3}


def test_expired_windows_leave_the_state_and_the_changelog_deletes_them() -> None:
    detection_task = task()
    for record in routed_failures(3):
        detection_task.apply_event(record)
    detection_task.apply_progress(progress(40))
    keys = {k for k, v in detection_task.take_changes() if k != CLOCKS_KEY and v is not None}
    assert keys

    detection_task.apply_progress(progress(2 * 3600))
    detection_task.expire()
    deleted = {k for k, v in detection_task.take_changes() if v is None}
    assert keys <= deleted


def test_state_bytes_are_the_latest_changelog_records_of_live_keys() -> None:
    detection_task = task()
    changelog: dict[str, bytes | None] = {}
    for record in routed_failures(3) + routed_failures(4, user="usr_2"):
        detection_task.apply_event(record)
    changelog.update(detection_task.take_changes())
    for record in routed_failures(2, user="usr_3"):
        detection_task.apply_event(record)  # not yet written: not counted

    def live_bytes() -> int:
        return sum(len(v) for k, v in changelog.items() if k != CLOCKS_KEY and v is not None)

    assert detection_task.state_bytes() == live_bytes() > 0
    changelog.update(detection_task.take_changes())
    assert detection_task.state_bytes() == live_bytes()

    restored = task()
    restored.restore(changelog.items())
    assert restored.state_bytes() == live_bytes()

    detection_task.apply_progress(progress(2 * 3600))
    detection_task.expire()
    changelog.update(detection_task.take_changes())
    assert detection_task.state_bytes() == live_bytes() == 0
