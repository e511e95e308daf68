"""Jobs shared by API replicas through their store: a job started on one replica is
read, listed and downloaded on another; a replica that stops beating leaves its
running job failed, not running forever; old jobs are forgotten with their files."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit.api.jobs import Job, JobNotFound, JobRunner, JobsBusy
from audit.services.ports.jobs import StoredFileCorrupt
from tests.fakes.jobs import FakeJobStore


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _runner(store: FakeJobStore, clock: _Clock, name: str, root: Path, kept: int = 10) -> JobRunner:
    return JobRunner(
        4,
        kept,
        clock,
        store=store,
        files_root=root / name,
        replica=name,
        heartbeat=0.01,
        stale_after=30,
    )


def _wait(runner: JobRunner, job_id: str, kind: str = "export") -> Job:
    for _ in range(500):
        job = runner.get(job_id, kind)
        if job.finished:
            return job
        threading.Event().wait(0.01)
    raise AssertionError(f"{job_id} did not finish")


def _bundle_work(root: Path, contents: dict[str, bytes]):  # type: ignore[no-untyped-def]
    def work(job: Job) -> dict[str, object]:
        out = root / job.id / "bundle"
        out.mkdir(parents=True)
        for name, data in contents.items():
            (out / name).write_bytes(data)
        job.files["bundle"] = out
        job.progress(len(contents), len(contents))
        return {"events": len(contents)}

    return work


def test_a_job_started_on_one_replica_is_read_and_downloaded_on_another(tmp_path: Path) -> None:
    store, clock = FakeJobStore(), _Clock()
    a, b = _runner(store, clock, "a", tmp_path), _runner(store, clock, "b", tmp_path)
    contents = {"events.ndjson": b"x" * 5000, "manifest.json": b'{"files": []}'}
    job = a.start("export", "ann", "org_a", _bundle_work(tmp_path / "a", contents))
    _wait(a, job.id)

    seen = _wait(b, job.id)
    assert (seen.state, seen.result, seen.done, seen.replica) == (
        "succeeded",
        {"events": 2},
        2,
        "a",
    )
    assert [j.id for j in b.listing("export", lambda j: True)] == [job.id]
    with pytest.raises(JobNotFound):
        b.get(job.id, "verify")

    into = tmp_path / "b" / job.id / "bundle"
    assert b.files(seen, "bundle", into) == into
    assert {p.name: p.read_bytes() for p in into.iterdir()} == contents
    assert b.files(seen, "bundle", into) == into  # brought once, then served from disk
    assert a.files(a.get(job.id, "export"), "bundle", tmp_path / "unused") == (
        tmp_path / "a" / job.id / "bundle"
    )


def test_a_stored_file_that_does_not_read_back_is_refused_and_nothing_is_left(
    tmp_path: Path,
) -> None:
    store, clock = FakeJobStore(), _Clock()
    a, b = _runner(store, clock, "a", tmp_path), _runner(store, clock, "b", tmp_path)
    job = a.start("export", "ann", "org_a", _bundle_work(tmp_path / "a", {"e.ndjson": b"abc"}))
    _wait(a, job.id)
    store.corrupt(job.id, "bundle/e.ndjson")
    into = tmp_path / "b" / job.id / "bundle"
    with pytest.raises(StoredFileCorrupt):
        b.files(b.get(job.id, "export"), "bundle", into)
    assert not into.exists() and list(into.parent.iterdir()) == []


def test_a_job_whose_replica_stopped_reads_as_failed_and_frees_its_owner(tmp_path: Path) -> None:
    store, clock = FakeJobStore(), _Clock()
    a, b = _runner(store, clock, "a", tmp_path), _runner(store, clock, "b", tmp_path)
    release = threading.Event()

    def blocked(job: Job) -> dict[str, object]:
        release.wait(10)
        return {}

    try:
        job = a.start("export", "ann", "org_a", blocked)
        assert b.get(job.id, "export").state in ("queued", "running")
        with pytest.raises(JobsBusy):  # one running job per principal, on any replica
            b.start("export", "ann", "org_a", lambda j: {})
        a.close()  # replica a is gone: no more heartbeats
        threading.Event().wait(0.05)
        clock.now += timedelta(seconds=31)
        failed = b.get(job.id, "export")
        assert failed.state == "failed" and "(a) stopped" in (failed.error or "")
        other = b.start("export", "ann", "org_a", lambda j: {})  # free again
        assert _wait(b, other.id).state == "succeeded"
    finally:
        release.set()


def test_heartbeats_carry_progress_to_the_other_replicas(tmp_path: Path) -> None:
    store, clock = FakeJobStore(), _Clock()
    a, b = _runner(store, clock, "a", tmp_path), _runner(store, clock, "b", tmp_path)
    release, halfway = threading.Event(), threading.Event()

    def slow(job: Job) -> dict[str, object]:
        job.progress(50, 100)
        halfway.set()
        release.wait(10)
        return {}

    try:
        job = a.start("export", "ann", "org_a", slow)
        halfway.wait(5)
        for _ in range(500):
            if b.get(job.id, "export").done == 50:
                break
            threading.Event().wait(0.01)
        seen = b.get(job.id, "export")
        assert (seen.state, seen.done, seen.total) == ("running", 50, 100)
        clock.now += timedelta(seconds=31)  # long, but a's heartbeats go on
        threading.Event().wait(0.1)
        assert b.get(job.id, "export").state == "running"
    finally:
        release.set()
    assert _wait(b, job.id).state == "succeeded"


def test_old_jobs_are_forgotten_with_their_files_on_every_replica(tmp_path: Path) -> None:
    store, clock = FakeJobStore(), _Clock()
    a = _runner(store, clock, "a", tmp_path, kept=2)
    ids = []
    for n in range(3):
        clock.now += timedelta(minutes=1)
        job = a.start("export", f"user{n}", "org_a", _bundle_work(tmp_path / "a", {"f": b"1"}))
        ids.append(_wait(a, job.id).id)
    clock.now += timedelta(minutes=1)
    a.start("export", "user9", "org_a", lambda j: {})  # starting forgets beyond the newest 2
    assert ids[0] not in store.saved and ids[1] not in store.saved
    assert not any(key[0] in ids[:2] for key in store.files)
    assert not (tmp_path / "a" / ids[0]).exists()
    assert ids[2] in store.saved


def test_a_job_is_not_started_when_its_record_cannot_be_saved(tmp_path: Path) -> None:
    store, clock = FakeJobStore(), _Clock()
    a = _runner(store, clock, "a", tmp_path)
    store.outage = True
    with pytest.raises(Exception, match="down"):
        a.start("export", "ann", "org_a", lambda j: {})
    store.outage = False
    assert a.listing("export", lambda j: True) == []


def test_a_replica_drops_its_copies_of_jobs_another_replica_forgot(tmp_path: Path) -> None:
    store, clock = FakeJobStore(), _Clock()
    a = _runner(store, clock, "a", tmp_path, kept=2)
    b = _runner(store, clock, "b", tmp_path, kept=2)
    first = a.start("export", "ann", "org_a", _bundle_work(tmp_path / "a", {"f": b"1"}))
    seen = _wait(b, first.id)
    copy = tmp_path / "b" / first.id / "bundle"
    assert b.files(seen, "bundle", copy) == copy
    clock.now += timedelta(minutes=1)
    second = a.start("export", "bob", "org_a", _bundle_work(tmp_path / "a", {"f": b"2"}))
    _wait(a, second.id)
    clock.now += timedelta(minutes=1)
    a.start("export", "cat", "org_a", lambda j: {})  # beyond the newest 2: forgotten
    assert first.id not in store.saved and (tmp_path / "b" / first.id).exists()
    b.files(b.get(second.id, "export"), "bundle", tmp_path / "b" / second.id / "bundle")
    assert not (tmp_path / "b" / first.id).exists()  # b's copy went with it
    assert (tmp_path / "b" / second.id / "bundle" / "f").read_bytes() == b"2"
