"""Deleting one organization's events early (end of contract).

The domain's ``erasure_plan`` names the indices and the query (the
organization's events minus what an active hold covers). For each index
that has matching documents: lift its blocks, delete by ``_id`` over a
point-in-time walk, block it again (force-merging before ``read_only``, which
refuses merges, so a warm or cold index is back to one segment; the node
keeps soft-delete tombstones under its retention lease, 12 h by default,
so they leave the disk at a later merge, never visible to searches). A
rerun finds only what is left, so a crash is resumed by running the command
again. Copies in hold indices are kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audit.domain.retention import RetentionPolicy, erasure_plan
from audit.domain.retention.erasure import ErasureTarget
from audit.errors import AuditError
from audit.services.ports.ingest import MetricsRecorder
from audit.services.ports.retention import HoldStore, RetentionCluster

log = logging.getLogger(__name__)

ERASE_ACTION = "erase_org"


class ErasureRefused(AuditError):
    """An erasure needs an organization, who asks for it and why."""


@dataclass
class ErasureReport:
    organization_id: str
    by: str
    reason: str
    at: str
    dry_run: bool
    held_by: list[str]
    indices: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "by": self.by,
            "reason": self.reason,
            "at": self.at,
            "dry_run": self.dry_run,
            "held_by": self.held_by,
            "deleted": sum(c.get("deleted", 0) for c in self.indices.values()),
            "matching": sum(c["matching"] for c in self.indices.values()),
            "kept_held": sum(c["kept_held"] for c in self.indices.values()),
            "indices": self.indices,
        }


class ErasureService:
    def __init__(
        self,
        cluster: RetentionCluster,
        holds: HoldStore,
        policy: RetentionPolicy,
        metrics: MetricsRecorder,
        display: Any = str,
    ) -> None:
        self._cluster = cluster
        self._holds = holds
        self._policy = policy
        self._metrics = metrics
        self._display = display

    def erase(
        self, organization_id: str, by: str, reason: str, at: datetime, dry_run: bool = False
    ) -> ErasureReport:
        if not organization_id.strip() or not by.strip() or not reason.strip():
            raise ErasureRefused("erase-org needs the organization, --by and --reason")
        plan = erasure_plan(
            organization_id,
            self._cluster.observe(),
            self._holds.all(),
            at,
            self._policy.settings.force_merge_segments,
        )
        report = ErasureReport(
            organization_id, by, reason, at.isoformat(), dry_run, list(plan.held_by)
        )
        log.info(
            "erasure of %s by %s (%s)%s", organization_id, by, reason, " dry run" if dry_run else ""
        )
        org_only = {"bool": {"filter": [{"term": {"organization.id": organization_id}}]}}
        try:
            for target in plan.targets:
                matching = self._cluster.count(target.index, plan.query)
                everything = (
                    self._cluster.count(target.index, org_only) if plan.held_by else matching
                )
                if matching == 0 and everything == 0:
                    continue
                counts = {"matching": matching, "kept_held": everything - matching}
                if not dry_run and matching:
                    counts["deleted"] = self._erase_index(target, plan.query)
                report.indices[self._display(target.index)] = counts
        except AuditError:
            self._metrics.inc(
                "audit_retention_actions_total", action=ERASE_ACTION, outcome="failure"
            )
            raise
        if not dry_run:
            self._metrics.inc(
                "audit_retention_actions_total", action=ERASE_ACTION, outcome="success"
            )
        log.info("erasure of %s: %s", organization_id, report.to_json()["deleted"])
        return report

    def _erase_index(self, target: ErasureTarget, query: dict[str, Any]) -> int:
        for block in target.unblock:
            self._cluster.set_block(target.index, block, present=False)
        deleted = self._cluster.delete_matching(target.index, query)
        merge = target.force_merge_segments
        for block in target.reblock:
            if block == "read_only" and merge is not None:
                self._cluster.force_merge(target.index, merge)  # refused under read_only
                merge = None
            self._cluster.set_block(target.index, block, present=True)
        if merge is not None:
            self._cluster.force_merge(target.index, merge)
        return deleted
