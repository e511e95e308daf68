"""Read-modify-write with optimistic concurrency, retried on conflict.

The change is a pure function of the record read; on a conflict the record
is read again and the change applied to the new version, so two writers
never lose each other's change. Before writing, the history of the result
must extend the history read: nobody rewrites history.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from audit.errors import AuditError, ConflictError
from audit.services.ports.incidents import Stored, Version


class HistoryRewriteRefused(AuditError):
    """A change would rewrite or drop history entries; nothing was written.

    This is a bug in the code making the change: report it with the record id.
    """


class _HasHistory(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def history(self) -> Sequence[Any]: ...


R = TypeVar("R", bound=_HasHistory)


def update_with_retry(
    read: Callable[[], Stored[R]],
    write: Callable[[R, Version], None],
    change: Callable[[R], R],
    *,
    max_attempts: int,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[R, R]:
    """Apply ``change`` until a write succeeds; answers (before, after) of that write.

    When ``change`` returns the record unchanged (the same object), nothing is written.
    """
    for attempt in range(1, max_attempts + 1):
        stored = read()
        before = stored.value
        after = change(before)
        if after is before:
            return before, after
        if list(after.history[: len(before.history)]) != list(before.history):
            raise HistoryRewriteRefused(f"{before.id}: a change would rewrite its history")
        try:
            write(after, stored.version)
        except ConflictError:
            # Jittered backoff so that two hot writers stop colliding in lockstep.
            sleep(random.uniform(0, min(0.005 * 2**attempt, 0.2)))  # noqa: S311
            continue
        return before, after
    raise ConflictError(
        f"could not write after {max_attempts} attempts: other writers kept changing it; try again"
    )
