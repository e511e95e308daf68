"""Ports: the small interfaces services talk to instead of client libraries.

Adapters in ``audit.adapters`` implement them; tests of services use the
real adapters against the real servers.
"""

from __future__ import annotations

from typing import Protocol


class MetricsRecorder(Protocol):
    """Records the metrics defined in ``audit.adapters.metrics``, by name."""

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None: ...

    def set(self, name: str, value: float, **labels: str) -> None: ...

    def observe(self, name: str, value: float, **labels: str) -> None: ...
