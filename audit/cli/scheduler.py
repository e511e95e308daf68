"""``audit scheduler``: the process that runs the timed jobs.

Every minute under a lease: checklist deadlines and notifications; every
five minutes: signed integrity digests; daily: retention.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from audit.settings import load_settings

if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def register(sub: Sub) -> None:
    scheduler = sub.add_parser(
        "scheduler", help="run the timed jobs (deadlines, digests, retention)"
    )
    scheduler.add_argument(
        "--once", action="store_true", help="run the deadlines job once and exit"
    )
    scheduler.set_defaults(handler=_scheduler)


def _scheduler(args: argparse.Namespace) -> int:
    from audit.adapters.scheduler import run_every_minute
    from audit.services.deadlines import DEADLINES_JOB, DeadlineSummary
    from audit.services.guarded_runner import GuardedRunner
    from audit.wiring.incidents import build_incidents, print_json, utcnow

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)  # one line per request
    settings = load_settings()
    wiring = build_incidents(settings)
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    runner = GuardedRunner(wiring.lease(settings), holder, wiring.metrics, utcnow)
    job = wiring.deadline_job()
    summaries: list[DeadlineSummary] = []

    def work(now: datetime) -> None:
        summaries.append(job.run(now))

    try:
        if args.once:
            outcome = runner.run(DEADLINES_JOB, work)
            summary = summaries[-1].__dict__ if summaries else None
            print_json(
                {"job": DEADLINES_JOB, "holder": holder, "outcome": outcome, "summary": summary}
            )
            return 1 if outcome == "failure" else 0
        from audit.wiring.retention import retention_scheduler_jobs

        # Jobs start once a minute: three minutes without one is not alive.
        wiring.metrics.heartbeat.max_age = 180.0
        if settings.scheduler_metrics_port:
            wiring.metrics.serve(settings.scheduler_metrics_port, settings.metrics_addr)
        jobs: dict[str, Callable[[], object]] = {
            DEADLINES_JOB: lambda: runner.run(DEADLINES_JOB, work)
        }
        jobs.update(retention_scheduler_jobs(settings, wiring.client, runner, wiring.metrics))
        from audit.wiring.incidents import legal_scheduler_jobs

        jobs.update(legal_scheduler_jobs(settings, wiring, runner.run))
        from audit.wiring.trail import digest_schedule

        jobs.update(digest_schedule(settings, wiring.client, runner.run, wiring.metrics, utcnow))
        run_every_minute(jobs, wiring.metrics.heartbeat)
    finally:
        wiring.close()
    return 0
