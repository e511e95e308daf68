"""Entry point of the detector: settings -> wiring -> run loop.

Run it as ``audit detect``. The loop itself (restore, evaluate, store,
commit) is :class:`audit.services.detector_loop.DetectorLoop`; its object
graph is built by :mod:`audit.wiring.detect`.
"""

from __future__ import annotations

import sys

from audit.logging_setup import configure_logging
from audit.settings import Settings, load_settings
from audit.wiring.collector import tune_collector
from audit.wiring.detect import run_detector


def run(settings: Settings, *, until_idle: float | None = None) -> int:
    """Run the detector until SIGTERM/SIGINT (or idle); returns detections written."""
    return run_detector(settings, until_idle=until_idle)


def main() -> int:
    configure_logging()
    tune_collector()
    print(run(load_settings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
