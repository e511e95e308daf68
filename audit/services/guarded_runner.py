"""The single-run guard of scheduled jobs.

Several replicas may run the scheduler; :class:`GuardedRunner` lets one of
them run a job per minute slot (a lease in the lock index).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from audit.services.ports.incidents import Lease
from audit.services.ports.ingest import MetricsRecorder

log = logging.getLogger(__name__)


def minute_slot(now: datetime) -> datetime:
    """The minute ``now`` falls in: the unit a scheduled job runs once per."""
    return now.replace(second=0, microsecond=0)


class GuardedRunner:
    """Runs a job only when this replica holds the job's lease for the current slot."""

    def __init__(
        self,
        lease: Lease,
        holder: str,
        metrics: MetricsRecorder,
        clock: Callable[[], datetime],
    ) -> None:
        self._lease = lease
        self.holder = holder
        self._metrics = metrics
        self._clock = clock

    def run(self, job: str, work: Callable[[datetime], object]) -> str:
        """``success``, ``skipped`` (another replica has this slot) or ``failure``."""
        now = self._clock()
        try:
            acquired = self._lease.acquire(job, self.holder, minute_slot(now), now)
        except Exception:
            log.exception("job %s: cannot take the lease", job)
            return self._count(job, "failure")
        if not acquired:
            return self._count(job, "skipped")
        try:
            work(now)
        except Exception:
            log.exception("job %s failed", job)
            return self._count(job, "failure")
        finally:
            try:
                self._lease.release(job, self.holder, self._clock())
            except Exception:  # the lease expires by itself
                log.warning("job %s: lease not released", job, exc_info=True)
        self._metrics.set(
            "audit_scheduler_job_last_success_timestamp_seconds", now.timestamp(), task=job
        )
        return self._count(job, "success")

    def _count(self, job: str, outcome: str) -> str:
        self._metrics.inc("audit_scheduler_job_runs_total", task=job, outcome=outcome)
        return outcome
