"""The daily retention job, for the every-minute scheduler.

The scheduler ticks every minute; :meth:`DailyRetentionJob.due` answers
True once per UTC day (from ``minute_of_day`` on) until a run succeeds, and
again ``retry_after`` after a failed run. The run itself goes through the
same :class:`audit.services.guarded_runner.GuardedRunner` lease as the deadlines
job, so two replicas never apply retention at the same time; a second
replica's run that day finds nothing pending (the plan is idempotent).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from audit.services.retention import RetentionReport, RetentionService

log = logging.getLogger(__name__)

RETENTION_JOB = "retention"


class DailyRetentionJob:
    def __init__(
        self,
        service: RetentionService,
        minute_of_day: int = 30,
        retry_after: timedelta = timedelta(minutes=15),
    ) -> None:
        self._service = service
        self._minute = minute_of_day
        self._retry_after = retry_after
        self._done_on: date | None = None
        self._failed_at: datetime | None = None
        self.last_report: RetentionReport | None = None

    def due(self, now: datetime) -> bool:
        if now.hour * 60 + now.minute < self._minute or self._done_on == now.date():
            return False
        return self._failed_at is None or now - self._failed_at >= self._retry_after

    def run(self, now: datetime) -> RetentionReport:
        """Apply the plan for ``now``; raises when an action failed (the runner counts it)."""
        try:
            report = self._service.apply(now)
        except Exception:
            self._failed_at = now
            raise
        self.last_report = report
        if not report.ok:
            self._failed_at = now
            raise RuntimeError(f"retention: {report.to_json()['counts']}")
        self._done_on, self._failed_at = now.date(), None
        return report
