"""The read-modify-write loop's rules, with plain functions as the record's home."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from audit.errors import ConflictError
from audit.services.optimistic import HistoryRewriteRefused, update_with_retry
from audit.services.ports.incidents import Stored, Version


@dataclass(frozen=True)
class Record:
    id: str
    history: tuple[str, ...]


def test_a_conflict_reapplies_the_change_to_the_newer_version() -> None:
    versions = [Record("r", ("a",)), Record("r", ("a", "theirs"))]
    reads: list[int] = []
    written: list[Record] = []

    def read() -> Stored[Record]:
        reads.append(1)
        return Stored(versions[min(len(reads), 2) - 1], Version(len(reads), 1))

    def write(record: Record, version: Version) -> None:
        if version.seq_no == 1:
            raise ConflictError("changed")
        written.append(record)

    before, after = update_with_retry(
        read,
        write,
        lambda r: replace(r, history=(*r.history, "mine")),
        max_attempts=3,
        sleep=lambda _: None,
    )
    assert written == [Record("r", ("a", "theirs", "mine"))]
    assert before.history == ("a", "theirs")
    assert after.history == ("a", "theirs", "mine")


def test_rewriting_history_is_refused_before_writing() -> None:
    written: list[Record] = []
    with pytest.raises(HistoryRewriteRefused):
        update_with_retry(
            lambda: Stored(Record("r", ("a", "b")), Version(1, 1)),
            lambda record, version: written.append(record),
            lambda r: replace(r, history=("a", "x", "c")),
            max_attempts=3,
        )
    assert written == []


def test_no_change_writes_nothing_and_endless_conflicts_give_up() -> None:
    stored = Stored(Record("r", ("a",)), Version(1, 1))

    def conflict(record: Record, version: Version) -> None:
        raise ConflictError("changed")

    before, after = update_with_retry(lambda: stored, conflict, lambda r: r, max_attempts=1)
    assert after is before
    with pytest.raises(ConflictError, match="after 4 attempts"):
        update_with_retry(
            lambda: stored,
            conflict,
            lambda r: replace(r, history=(*r.history, "b")),
            max_attempts=4,
            sleep=lambda _: None,
        )
