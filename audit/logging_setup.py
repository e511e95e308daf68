"""One logging setup for every process: ``configure_logging()`` at its entry point."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Client libraries that narrate every connection at INFO.
_NOISY = ("kafka", "elastic_transport")


def configure_logging(level: int = logging.INFO, *, libraries: int = logging.WARNING) -> None:
    """Timestamped lines on stderr at ``level``; client libraries at ``libraries``."""
    logging.basicConfig(level=level, format=FORMAT)
    for name in _NOISY:
        logging.getLogger(name).setLevel(libraries)
