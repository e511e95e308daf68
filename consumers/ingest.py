"""Entry point of the ingest consumer: settings -> wiring -> run loop.

Run it as ``audit consume`` (or ``python -m consumers.ingest``). SIGTERM
and SIGINT finish the batch in hand, commit it and close.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.queues import Queue
from types import FrameType

from audit.logging_setup import configure_logging
from audit.services.ingest import IngestCounts
from audit.settings import Settings, load_settings
from audit.wiring.collector import tune_collector
from audit.wiring.ingest import build_ingest


def run(settings: Settings, *, until_idle: float | None = None) -> IngestCounts:
    """One consumer-group member until stopped (or idle that long); the run's counts."""
    process = build_ingest(settings)

    def stop(signum: int, frame: FrameType | None) -> None:
        process.stop.set()

    previous = {}
    try:
        process.serve_metrics()
        # Until the store answers, a signal ends the process the default way.
        process.prepare()
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        return process.run(until_idle)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        process.close()


def run_members(
    settings: Settings, processes: int, *, until_idle: float | None = None
) -> IngestCounts:
    """``processes`` members of the consumer group, each in a process of its own.

    Python runs one core per process; the group shares the partitions among
    the members (so more members than partitions idle). Member ``i`` serves
    its metrics on ``metrics_port + i``. SIGTERM/SIGINT are passed on: each
    member finishes its batch, commits and leaves. Returns the counts summed.
    """
    context = multiprocessing.get_context("spawn")
    results: Queue[IngestCounts] = context.Queue()
    members = []
    for i in range(processes):
        port = settings.metrics_port + i if settings.metrics_port else 0
        member = settings.model_copy(update={"metrics_port": port})
        members.append(context.Process(target=_member, args=(member, until_idle, results)))

    def forward(signum: int, frame: FrameType | None) -> None:
        for process in members:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in members:
            process.start()
        total = IngestCounts()
        for _ in members:
            total.add(results.get())
        for process in members:
            process.join()
        return total
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _member(settings: Settings, until_idle: float | None, results: Queue[IngestCounts]) -> None:
    configure_logging()
    tune_collector()
    results.put(run(settings, until_idle=until_idle))


def main() -> int:
    configure_logging()
    tune_collector()
    print(run(load_settings()).as_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
