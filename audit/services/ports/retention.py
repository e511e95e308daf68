"""Ports of the retention use cases: the indices, the holds, the organizations' classes.

Index names crossing these ports are the domain's (``audit-events-<class>-<day>``,
``audit-holds-<id>``); the adapter maps them to the deployment's prefixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from audit.domain.retention import IndexState, LegalHold, Step
from audit.errors import AuditError


class HoldCopyNotVerified(AuditError):
    """Documents selected by a legal hold were not all found in the hold index.

    The source index is NOT deleted. Check the hold index (blocks, disk,
    mapping errors in the log) and rerun ``audit retention apply``: the copy
    is repeated and verified again before any deletion.
    """


class RetentionStepFailed(AuditError):
    """Elasticsearch refused a retention step; the message names the index and step.

    The rest of that index's steps were skipped; a rerun resumes from its
    observed state.
    """


@dataclass(frozen=True, slots=True)
class CopyReport:
    selected: int  # documents the hold query selects in the source
    created: int  # copied now
    already: int  # already in the hold index (a rerun)
    verified: int  # selected ids found in the hold index


@dataclass(frozen=True, slots=True)
class HeldSource:
    """What a hold index must remember of a source it received copies from."""

    retention_class: str
    day: date


class RetentionCluster(Protocol):
    def observe(self) -> list[IndexState]:
        """Every event index and hold index as it is now."""
        ...

    def apply_step(self, step: Step, source: HeldSource | None = None) -> CopyReport | None:
        """Bring the index to the step's target (idempotent).

        ``copy_held`` needs ``source`` (for the hold index's metadata) and
        returns its report; it raises :class:`HoldCopyNotVerified` unless
        every selected document is in the hold index.
        """
        ...

    def count(self, index: str, query: dict[str, Any]) -> int: ...

    def delete_matching(self, index: str, query: dict[str, Any]) -> int:
        """Delete every document ``query`` selects (point-in-time walk); how many."""
        ...

    def set_block(self, index: str, block: str, present: bool) -> None:
        """Add or lift ``read_only`` or ``write``."""
        ...

    def force_merge(self, index: str, segments: int) -> None: ...


class HoldStore(Protocol):
    def create(self, hold: LegalHold) -> bool:
        """Store a new hold; False if a hold with that id exists."""
        ...

    def get(self, hold_id: str) -> LegalHold: ...

    def all(self) -> list[LegalHold]: ...

    def release(self, hold_id: str, by: str, at: datetime, reason: str) -> LegalHold:
        """Mark the hold released (optimistic concurrency) and log who, when, why."""
        ...

    def log(self, hold_id: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class OrgClassRecord:
    organization_id: str
    retention_class: str
    updated_by: str
    updated_at: datetime
    reason: str


class OrgSettingsStore(Protocol):
    def get_class(self, organization_id: str) -> str | None:
        """The class the organization chose, or None."""
        ...

    def set_class(self, record: OrgClassRecord) -> str | None:
        """Store the choice (with its history); the previous class or None."""
        ...
