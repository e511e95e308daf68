"""Event-time progress of the ingest sources, as seen by one detector task.

Routed records reach a detector partition from every source partition of
the audit topics, each read at its own pace by whichever ingest consumer
owns it. A task's watermark must therefore follow the *slowest* source, or
a source read behind the others would see its events counted late. The
ingest consumers publish, after each batch and every second while idle, a
progress marker per source partition they own: the largest event time they
have accepted from it or, once they have read it to its end, the present
(nothing older than the present minus the allowed lateness can still be
expected from it). This module folds those markers into a watermark clock:

- a source's clock only moves forward (a new owner after a rebalance starts
  again from the last commit and may report less);
- the watermark clock is the minimum over the expected sources; a source
  that has never reported holds it back, since its events may still come.

The engine subtracts its allowed lateness from this clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: The clock of a source that has reported nothing yet.
NEVER = -(2**62)


class SourceClocks:
    def __init__(self, expected: Iterable[str] = ()) -> None:
        self._clocks: dict[str, int] = dict.fromkeys(expected, NEVER)

    def expect(self, sources: Iterable[str]) -> None:
        for name in sources:
            self._clocks.setdefault(name, NEVER)

    def update(self, source: str, clock_us: int) -> None:
        if clock_us > self._clocks.get(source, NEVER):
            self._clocks[source] = clock_us

    def clock_us(self) -> int | None:
        """The watermark clock, or None while some source has not reported."""
        if not self._clocks:
            return None
        slowest = min(self._clocks.values())
        return None if slowest == NEVER else slowest

    def dump(self) -> dict[str, Any]:
        return dict(sorted(self._clocks.items()))

    def load(self, data: dict[str, Any]) -> None:
        for name, clock_us in data.items():
            self.update(name, int(clock_us))
