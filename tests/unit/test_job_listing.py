"""JobRunner.listing: one kind, what the caller's predicate keeps, newest first."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

from audit.api.jobs import Job, JobRunner


def _wait(job: Job) -> None:
    for _ in range(200):
        if job.finished:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{job.id} did not finish")


def test_listing_keeps_one_kind_filters_and_orders_newest_first() -> None:
    # A minute per reading; itertools.count, unlike a generator, may be read from the
    # job threads at once.
    minutes = itertools.count()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    runner = JobRunner(
        max_running=4, kept=10, clock=lambda: start + timedelta(minutes=next(minutes))
    )
    started = [
        runner.start(kind, owner, org, lambda job: {})
        for kind, owner, org in (
            ("export", "ann", "org_a"),
            ("verify", "bob", "org_a"),
            ("export", "cat", "org_b"),
            ("export", "dan", "org_a"),
        )
    ]
    for job in started:
        _wait(job)
    exports_a = runner.listing("export", lambda j: j.organization_id == "org_a")
    assert [j.owner for j in exports_a] == ["dan", "ann"]  # newest first, no verify job
    assert [j.owner for j in runner.listing("export", lambda j: True)] == ["dan", "cat", "ann"]
    assert runner.listing("export", lambda j: False) == []


def test_listing_forgets_what_the_runner_forgets() -> None:
    runner = JobRunner(max_running=1, kept=1, clock=lambda: datetime.now(UTC))
    first = runner.start("export", "ann", "org_a", lambda job: {})
    _wait(first)
    second = runner.start("export", "ann", "org_a", lambda job: {})
    _wait(second)
    runner.start("export", "bob", "org_a", lambda job: {})  # starting forgets the oldest
    ids = [j.id for j in runner.listing("export", lambda j: True)]
    assert first.id not in ids and second.id in ids
