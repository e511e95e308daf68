"""The scheduler process: apscheduler's ``BlockingScheduler`` running jobs every minute.

Jobs fire at second 0 of each minute, so that every replica's run falls in
the same minute slot and the lease (see :mod:`audit.services.deadlines`)
lets only one of them run it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger


def run_every_minute(jobs: Mapping[str, Callable[[], object]]) -> None:
    """Block, running each job at the start of every minute (one instance at a time)."""
    scheduler = BlockingScheduler(timezone="UTC")
    for name, job in jobs.items():
        scheduler.add_job(
            job,
            CronTrigger(second=0, timezone="UTC"),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=30,
        )
    scheduler.start()
