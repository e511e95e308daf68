"""The scheduler process's object graph: its lease runner and its timed jobs.

Every minute, under a lease (one run per minute slot across replicas):
checklist deadlines and notifications, the redrive of failed notifications and
the holds that follow legal cases; every ``digest_every_minutes``:
signed integrity digests; once a day at ``retention_daily_minute``:
retention. ``audit scheduler`` parses its arguments and calls
:meth:`SchedulerWiring.run_forever` or :meth:`SchedulerWiring.run_deadlines_once`.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audit.adapters.scheduler import run_every_minute
from audit.services.deadlines import DEADLINES_JOB, DeadlineSummary
from audit.services.guarded_runner import GuardedRunner
from audit.settings import Settings
from audit.wiring.incidents import IncidentWiring, build_incidents, legal_scheduler_jobs, utcnow
from audit.wiring.retention import retention_scheduler_jobs
from audit.wiring.trail import digest_schedule

Job = Callable[[], object]
# Jobs start once a minute: three minutes without one is not alive.
_HEARTBEAT_MAX_AGE = 180.0


def holder_name() -> str:
    """Who holds the lease: host, process and a random suffix (unique per process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class SchedulerWiring:
    settings: Settings
    incidents: IncidentWiring
    runner: GuardedRunner
    holder: str
    clock: Callable[[], datetime] = utcnow
    summaries: list[DeadlineSummary] = field(default_factory=list)

    def _deadlines(self, now: datetime) -> None:
        self.summaries.append(self.incidents.deadline_job().run(now))

    def run_deadlines_once(self) -> dict[str, Any]:
        """One run of the deadlines job under the lease: what happened, as JSON-ready data."""
        outcome = self.runner.run(DEADLINES_JOB, self._deadlines)
        summary = self.summaries[-1].__dict__ if self.summaries else None
        return {"job": DEADLINES_JOB, "holder": self.holder, "outcome": outcome, "summary": summary}

    def jobs(self) -> dict[str, Job]:
        """Every timed job, by name (building them creates the stores' indices)."""
        metrics = self.incidents.metrics
        client = self.incidents.client
        jobs: dict[str, Job] = {
            DEADLINES_JOB: lambda: self.runner.run(DEADLINES_JOB, self._deadlines)
        }
        jobs.update(retention_scheduler_jobs(self.settings, client, self.runner, metrics))
        jobs.update(legal_scheduler_jobs(self.settings, self.incidents, self.runner.run))
        jobs.update(digest_schedule(self.settings, client, self.runner.run, metrics, self.clock))
        return jobs

    def run_forever(self) -> None:
        """Serve the metrics (when a port is set) and run the jobs every minute; blocks."""
        metrics = self.incidents.metrics
        metrics.heartbeat.max_age = _HEARTBEAT_MAX_AGE
        if self.settings.scheduler_metrics_port:
            metrics.serve(self.settings.scheduler_metrics_port, self.settings.metrics_addr)
        run_every_minute(self.jobs(), metrics.heartbeat)

    def close(self) -> None:
        self.incidents.close()


def build_scheduler(settings: Settings, clock: Callable[[], datetime] = utcnow) -> SchedulerWiring:
    incidents = build_incidents(settings)
    holder = holder_name()
    runner = GuardedRunner(incidents.lease(settings), holder, incidents.metrics, clock)
    return SchedulerWiring(settings, incidents, runner, holder, clock)
