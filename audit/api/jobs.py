"""Background jobs of the API (exports, large verifications), shared by its replicas.

A job runs in a thread of the API process that started it. Its record
(state, progress, result) and the files it leaves (an export's bundle) go to
a :class:`~audit.services.ports.jobs.JobStore` that every replica reads, so
the next poll or the download may reach any replica behind the load
balancer, and a restart forgets nothing that finished. The running replica
rewrites the record every ``heartbeat`` seconds; a record not rewritten for
``stale_after`` reads as failed (its replica stopped while running it).

Bounded: one running job per principal and at most ``max_running`` per
replica (else :class:`JobsBusy`, answered 429); the newest ``kept`` jobs
are remembered, older finished ones are forgotten with their files.
Without a store (tests of one process) jobs live in this process only.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from audit.api.archives import plain_member
from audit.errors import AuditError, NotFound
from audit.services.ports.jobs import JobStore, StoredFile, StoredFileCorrupt

log = logging.getLogger("audit.api.jobs")

JobState = Literal["queued", "running", "succeeded", "failed"]
#: How often the running replica rewrites a job's record (its progress with it).
HEARTBEAT_SECONDS = 2.0
#: A running job's record older than this reads as failed.
STALE_SECONDS = 30.0


class JobsBusy(AuditError):
    """The caller already has a running job, or the process runs as many as it may."""


class JobNotFound(NotFound):
    """No such job."""


@dataclass
class Job:
    id: str
    kind: str
    owner: str
    organization_id: str
    created_at: datetime
    state: JobState = "queued"
    done: int = 0
    total: int | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    files: dict[str, Any] = field(default_factory=dict)  # what the job left, on this replica
    size_bytes: int | None = None  # of what it left behind, once finished
    replica: str = ""  # the API process that runs it
    heartbeat_at: datetime | None = None
    #: What it left, as stored for every replica: per entry of ``files``.
    stored: dict[str, list[StoredFile]] = field(default_factory=dict)

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed")

    def record(self) -> dict[str, Any]:
        """The job as its store keeps it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "owner": self.owner,
            "organization_id": self.organization_id,
            "created_at": self.created_at.isoformat(),
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "finished_at": _iso(self.finished_at),
            "result": self.result,
            "error": self.error,
            "size_bytes": self.size_bytes,
            "replica": self.replica,
            "heartbeat_at": _iso(self.heartbeat_at),
            "stored": {
                entry: [[f.name, f.size, f.sha256] for f in files]
                for entry, files in self.stored.items()
            },
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Job:
        return cls(
            id=str(record["id"]),
            kind=str(record["kind"]),
            owner=str(record["owner"]),
            organization_id=str(record["organization_id"]),
            created_at=datetime.fromisoformat(record["created_at"]),
            state=cast(JobState, record["state"]),
            done=int(record.get("done") or 0),
            total=record.get("total"),
            finished_at=_parse(record.get("finished_at")),
            result=record.get("result"),
            error=record.get("error"),
            size_bytes=record.get("size_bytes"),
            replica=str(record.get("replica") or ""),
            heartbeat_at=_parse(record.get("heartbeat_at")),
            stored={
                entry: [StoredFile(str(n), int(s), str(h)) for n, s, h in files]
                for entry, files in (record.get("stored") or {}).items()
            },
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse(text: Any) -> datetime | None:
    return None if not text else datetime.fromisoformat(str(text))


Work = Callable[[Job], dict[str, Any]]


class JobRunner:
    def __init__(
        self,
        max_running: int,
        kept: int,
        clock: Callable[[], datetime],
        *,
        store: JobStore | None = None,
        files_root: Path | None = None,
        replica: str | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
        stale_after: float = STALE_SECONDS,
    ) -> None:
        self._max = max_running
        self._kept = kept
        self._clock = clock
        self._store = store
        self._files_root = files_root
        self.replica = replica or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
        self._heartbeat = heartbeat
        self._stale = timedelta(seconds=stale_after)
        self._lock = threading.Lock()
        self._files_lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._unsaved: set[str] = set()  # finished here, final record not yet stored
        self._beating = False
        self._stop = threading.Event()

    def _running(self) -> list[Job]:
        return [j for j in self._jobs.values() if not j.finished]

    def start(self, kind: str, owner: str, organization_id: str, work: Work) -> Job:
        """Start ``work(job)`` in a thread; its return value is the job's result."""
        elsewhere = self._running_elsewhere(owner)
        with self._lock:
            running = self._running()
            if elsewhere or any(j.owner == owner for j in running):
                raise JobsBusy("you already have a job running; wait for it to finish")
            if len(running) >= self._max:
                raise JobsBusy("too many jobs running; try again later")
            now = self._clock()
            job = Job(
                f"{kind}-{uuid.uuid4().hex}",
                kind,
                owner,
                organization_id,
                now,
                replica=self.replica,
                heartbeat_at=now,
            )
            self._jobs[job.id] = job
        if self._store is not None:
            try:
                self._store.save(job.record())
            except Exception:
                with self._lock:
                    del self._jobs[job.id]
                raise
        self._forget_old()
        thread = threading.Thread(target=self._run, args=(job, work), name=job.id, daemon=True)
        thread.start()
        self._beat_while_running()
        return job

    def _running_elsewhere(self, owner: str) -> bool:
        """The owner has a live job on another replica (as far as searches see)."""
        if self._store is None:
            return False
        return any(
            job.owner == owner and not job.finished and job.replica != self.replica
            for job in map(self._judged, self._stored(None))
        )

    def _stored(self, kind: str | None) -> list[Job]:
        if self._store is None:
            return []
        return [Job.from_record(r) for r in self._store.records(kind, self._kept)]

    def _run(self, job: Job, work: Work) -> None:
        job.state = "running"
        self._save(job)
        try:
            result = work(job)
            self._store_files(job)
        except Exception as err:  # the job's failure is its outcome, not the process's
            log.exception("job %s failed", job.id)
            job.error = str(err)[:500] or type(err).__name__
            job.state = "failed"
        else:
            job.result = result
            job.state = "succeeded"
        job.finished_at = job.heartbeat_at = self._clock()
        if not self._save(job):
            with self._lock:
                self._unsaved.add(job.id)

    def _store_files(self, job: Job) -> None:
        """Every file the job left, stored for the other replicas (a failure fails the job)."""
        if self._store is None:
            return
        for entry, where in job.files.items():
            if isinstance(where, Path) and where.is_dir():
                job.stored[entry] = [
                    self._store.put_file(job.id, f"{entry}/{path.name}", path)
                    for path in sorted(where.iterdir())
                    if path.is_file()
                ]

    def _save(self, job: Job) -> bool:
        if self._store is None:
            return True
        try:
            # One save at a time, the record taken inside: a heartbeat's save
            # cannot land after the final one with the job still running.
            with self._save_lock:
                self._store.save(job.record())
        except Exception as err:  # retried at the next heartbeat
            log.warning("job %s: record not saved (%s)", job.id, err)
            return False
        return True

    def _beat_while_running(self) -> None:
        if self._store is None:
            return
        with self._lock:
            if self._beating:
                return
            self._beating = True
        threading.Thread(target=self._beat, name="job-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat):
            with self._lock:
                running = self._running()
                unsaved = [self._jobs[i] for i in self._unsaved if i in self._jobs]
                self._unsaved.clear()
                if not running and not unsaved:
                    self._beating = False
                    return
            now = self._clock()
            for job in running:
                job.heartbeat_at = now
                self._save(job)
            for job in unsaved:
                if not self._save(job):
                    with self._lock:
                        self._unsaved.add(job.id)

    def close(self) -> None:
        """Stop the heartbeat (the process is ending: its running jobs will read as failed)."""
        self._stop.set()

    def _judged(self, job: Job) -> Job:
        """A job of another replica as it stands: failed if that replica stopped beating."""
        beat = job.heartbeat_at or job.created_at
        if job.finished or self._clock() - beat <= self._stale:
            return job
        job.state = "failed"
        job.error = (
            f"the API process running this job ({job.replica}) stopped"
            f" (its last sign of life: {beat.isoformat()}); start it again"
        )
        return job

    def _forget_old(self) -> None:
        with self._lock:
            finished = [j for j in self._jobs.values() if j.finished]
            for job in sorted(finished, key=lambda j: j.created_at)[
                : max(0, len(finished) - self._kept)
            ]:
                del self._jobs[job.id]
        if self._store is None:
            return
        try:
            records = self._store.records(None, self._kept + 100)
            # finished, or stopped with its replica: never the running job of another
            old = [
                r["id"] for r in records[self._kept :] if self._judged(Job.from_record(r)).finished
            ]
            if old:
                self._store.delete(old)
        except Exception as err:  # forgotten at the next start
            log.warning("old jobs not forgotten (%s)", err)
            return
        for job_id in old:
            if self._files_root is not None:
                shutil.rmtree(self._files_root / job_id, ignore_errors=True)

    def listing(self, kind: str, visible: Callable[[Job], bool]) -> list[Job]:
        """The remembered jobs of one kind that ``visible`` keeps, newest first.

        The caller decides what is visible (the API: the principal's tenant
        scope); the runner only knows jobs, not who may see them.
        """
        with self._lock:
            jobs = {j.id: j for j in self._jobs.values() if j.kind == kind}
        for stored in self._stored(kind):
            if stored.id not in jobs:
                jobs[stored.id] = self._judged(stored)
        return sorted(
            (j for j in jobs.values() if visible(j)),
            key=lambda j: (j.created_at, j.id),
            reverse=True,
        )

    def get(self, job_id: str, kind: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and self._store is not None:
            record = self._store.get(job_id)
            job = None if record is None else self._judged(Job.from_record(record))
        if job is None or job.kind != kind:
            raise JobNotFound(f"no {kind} job {job_id}")
        return job

    def files(self, job: Job, entry: str, into: Path) -> Path | None:
        """The directory of what ``job`` left under ``entry``, on this replica:
        where it was written, or ``into`` filled from the store (once)."""
        where = job.files.get(entry)
        if isinstance(where, Path) and where.is_dir():
            return where
        stored = job.stored.get(entry)
        if self._store is None or stored is None:
            return None
        with self._files_lock:
            if into.is_dir():
                return into
            partial = into.with_name(f"{into.name}.part-{uuid.uuid4().hex[:8]}")
            partial.mkdir(parents=True)
            try:
                for file in stored:
                    name = file.name.rsplit("/", 1)[-1]
                    if not plain_member(name):
                        raise StoredFileCorrupt(f"job {job.id} stored a file named {name!r}")
                    with (partial / name).open("wb") as out:
                        for chunk in self._store.read_file(job.id, file):
                            out.write(chunk)
                partial.rename(into)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
        self._prune_local()
        return into

    def _prune_local(self) -> None:
        """Drop this replica's copies of jobs the store has forgotten (another
        replica forgot them): the export directory is a pod's bounded volume."""
        root = self._files_root
        if self._store is None or root is None or not root.is_dir():
            return
        try:
            remembered = {r["id"] for r in self._store.records(None, self._kept)}
        except Exception as err:  # pruned at the next download
            log.warning("copies of forgotten jobs not pruned (%s)", err)
            return
        with self._lock:
            remembered.update(self._jobs)
        for path in root.iterdir():
            if path.is_dir() and path.name not in remembered and "." not in path.name:
                shutil.rmtree(path, ignore_errors=True)
