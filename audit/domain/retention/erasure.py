"""Deleting one organization's events early (end of contract), as a plan.

The test node has no ``_delete_by_query``: the executor walks each target
index with point-in-time + search_after over ``query`` and bulk-deletes the
``_id``s it finds. Rerunning is safe: what was deleted is no longer found.
Held documents are excluded by the query (``must_not`` of every active hold
covering the organization); copies already in hold indices are not targets.
Write-blocked indices are unblocked for the deletion and re-blocked after,
in that order, so a crash leaves at worst an unblocked index that the next
run (or retention plan) blocks again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from audit.domain.retention.holds import LegalHold, hold_query
from audit.domain.retention.state import IndexState


class ErasureTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    index: str
    unblock: tuple[str, ...] = ()  # block settings to lift first: "read_only", "write"
    reblock: tuple[str, ...] = ()  # and to set again after
    force_merge_segments: int | None = None  # merge again to purge deleted docs


class ErasurePlan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    organization_id: str
    at: datetime
    query: dict[str, Any]
    targets: tuple[ErasureTarget, ...]
    held_by: tuple[str, ...]  # active holds whose documents are kept


def erasure_query(organization_id: str, holds: Sequence[LegalHold]) -> dict[str, Any]:
    query: dict[str, Any] = {"bool": {"filter": [{"term": {"organization.id": organization_id}}]}}
    if holds:
        query["bool"]["must_not"] = [hold_query(hold) for hold in holds]
    return query


def erasure_plan(
    organization_id: str,
    indices: Sequence[IndexState],
    holds: Sequence[LegalHold],
    at: datetime,
    force_merge_segments: int = 1,
) -> ErasurePlan:
    """Which indices to scan for the organization's events, with which query."""
    keep = [
        hold
        for hold in holds
        if hold.is_active(at) and organization_id in hold.scope.organization_ids
    ]
    targets = []
    for state in sorted(indices, key=lambda s: (s.day, s.name)):
        if state.hold_id is not None:
            continue
        blocks = tuple(
            name
            for name, present in (("read_only", state.read_only), ("write", state.write_block))
            if present
        )
        targets.append(
            ErasureTarget(
                index=state.name,
                unblock=blocks,
                reblock=tuple(reversed(blocks)),
                force_merge_segments=force_merge_segments if state.write_block else None,
            )
        )
    return ErasurePlan(
        organization_id=organization_id,
        at=at,
        query=erasure_query(organization_id, keep),
        targets=tuple(targets),
        held_by=tuple(hold.id for hold in keep),
    )
