"""A tiny progress bar on stderr (no dependency): redrawn in place on a
terminal, a line per 10% otherwise (logs stay readable)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._tty = self._stream.isatty()
        self._started = time.monotonic()
        self._drawn = 0.0
        self._decile = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        now = time.monotonic()
        rate = done / max(now - self._started, 1e-9)
        text = f"{self._label} {done}/{total} ({fraction:.0%}, {rate:,.0f}/s)"
        if self._tty:
            if now - self._drawn < 0.2 and done < total:
                return
            self._drawn = now
            filled = int(self._width * fraction)
            bar = "#" * filled + "." * (self._width - filled)
            end = "\n" if done >= total else ""
            self._stream.write(f"\r[{bar}] {text}{end}")
        else:
            decile = int(fraction * 10)
            if decile == self._decile:
                return
            self._decile = decile
            self._stream.write(text + "\n")
        self._stream.flush()
