"""The scheduler process: apscheduler's ``BlockingScheduler`` running jobs every minute.

Jobs fire at second 0 of each minute, so that every replica's run falls in
the same minute slot and the lease (see :mod:`audit.services.deadlines`)
lets only one of them run it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from audit.adapters.metrics import Heartbeat


def run_every_minute(
    jobs: Mapping[str, Callable[[], object]], heartbeat: Heartbeat | None = None
) -> None:
    """Block, running each job at the start of every minute (one instance at a time).

    With a ``heartbeat``: each run beats (alive); a run that took its lease
    or found it taken (``success``, ``skipped``) marks the process ready,
    one that failed (``failure``) not ready.
    """
    scheduler = BlockingScheduler(timezone="UTC")
    for name, job in jobs.items():
        scheduler.add_job(
            job if heartbeat is None else _beating(job, heartbeat),
            CronTrigger(second=0, timezone="UTC"),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=30,
        )
    scheduler.start()


def _beating(job: Callable[[], object], heartbeat: Heartbeat) -> Callable[[], object]:
    def run() -> object:
        heartbeat.beat()
        outcome = job()
        if outcome in ("success", "skipped"):
            heartbeat.ready(True)
        elif outcome == "failure":
            heartbeat.ready(False)
        heartbeat.beat()
        return outcome

    return run
