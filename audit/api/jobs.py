"""Background jobs of the API process (exports, large verifications).

Bounded: one running job per principal, at most ``api_jobs_max`` at once
(else :class:`JobsBusy`, answered 429); the last ``api_jobs_kept`` finished
jobs are remembered. Jobs live in this process only: a restart forgets them
(an export's bundle stays on disk).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from audit.errors import AuditError, NotFound

log = logging.getLogger("audit.api.jobs")

JobState = Literal["queued", "running", "succeeded", "failed"]


class JobsBusy(AuditError):
    """The caller already has a running job, or the process runs as many as it may."""


class JobNotFound(NotFound):
    """No such job in this process."""


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
    files: dict[str, Any] = field(default_factory=dict)  # what the job left behind
    size_bytes: int | None = None  # of what it left behind, once finished

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed")


Work = Callable[[Job], dict[str, Any]]


class JobRunner:
    def __init__(self, max_running: int, kept: int, clock: Callable[[], datetime]) -> None:
        self._max = max_running
        self._kept = kept
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def _running(self) -> list[Job]:
        return [j for j in self._jobs.values() if not j.finished]

    def start(self, kind: str, owner: str, organization_id: str, work: Work) -> Job:
        """Start ``work(job)`` in a thread; its return value is the job's result."""
        with self._lock:
            running = self._running()
            if any(j.owner == owner for j in running):
                raise JobsBusy("you already have a job running; wait for it to finish")
            if len(running) >= self._max:
                raise JobsBusy("too many jobs running; try again later")
            job = Job(f"{kind}-{uuid.uuid4().hex}", kind, owner, organization_id, self._clock())
            self._jobs[job.id] = job
            self._forget_old()
        thread = threading.Thread(target=self._run, args=(job, work), name=job.id, daemon=True)
        thread.start()
        return job

    def _run(self, job: Job, work: Work) -> None:
        job.state = "running"
        try:
            result = work(job)
        except Exception as err:  # the job's failure is its outcome, not the process's
            log.exception("job %s failed", job.id)
            job.error = str(err)[:500] or type(err).__name__
            job.state = "failed"
        else:
            job.result = result
            job.state = "succeeded"
        job.finished_at = self._clock()

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished]
        for job in sorted(finished, key=lambda j: j.created_at)[
            : max(0, len(finished) - self._kept)
        ]:
            del self._jobs[job.id]

    def listing(self, kind: str, visible: Callable[[Job], bool]) -> list[Job]:
        """The remembered jobs of one kind that ``visible`` keeps, newest first.

        The caller decides what is visible (the API: the principal's tenant
        scope); the runner only knows jobs, not who may see them.
        """
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.kind == kind]
        return sorted(
            (j for j in jobs if visible(j)), key=lambda j: (j.created_at, j.id), reverse=True
        )

    def get(self, job_id: str, kind: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.kind != kind:
            raise JobNotFound(f"no {kind} job {job_id}")
        return job
