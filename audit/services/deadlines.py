"""The deadlines job.

Every minute: evaluate the checklist of every incident that is not closed,
export how many items are overdue and due soon and how many incidents are
open per severity, and notify once per item and state (due soon, overdue):
the notifier's delivery log makes a second run send nothing again.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from audit.domain.checklists import ItemStatus
from audit.domain.detection.record import Severity
from audit.domain.incidents import IncidentStatus
from audit.domain.incidents.model import TERMINAL_STATUSES
from audit.domain.notifications import EventKind
from audit.services.incidents import IncidentService
from audit.services.ports.incidents import IncidentStore, Notifier
from audit.services.ports.ingest import MetricsRecorder

log = logging.getLogger(__name__)

DEADLINES_JOB = "deadlines"
_ITEM_EVENTS = {
    ItemStatus.DUE_SOON: EventKind.ITEM_DUE_SOON,
    ItemStatus.OVERDUE: EventKind.ITEM_OVERDUE,
}


@dataclass(frozen=True)
class DeadlineSummary:
    incidents: int
    overdue: int
    due_soon: int
    open_by_severity: dict[str, int]
    notifications: dict[str, int] = field(default_factory=dict)


class DeadlineJob:
    def __init__(
        self,
        incidents: IncidentService,
        store: IncidentStore,
        notifier: Notifier,
        metrics: MetricsRecorder,
    ) -> None:
        self._incidents = incidents
        self._store = store
        self._notifier = notifier
        self._metrics = metrics

    def run(self, now: datetime) -> DeadlineSummary:
        statuses = [s.value for s in IncidentStatus if s not in TERMINAL_STATUSES]
        incidents = self._store.find(statuses=statuses)
        overdue = due_soon = 0
        by_severity: Counter[str] = Counter({s.value: 0 for s in Severity})
        sent: Counter[str] = Counter()
        for incident in incidents:
            by_severity[incident.severity.value] += 1
            for item in self._incidents.checklist(incident, now):
                kind = _ITEM_EVENTS.get(item.status)
                if kind is None:
                    continue
                if item.status is ItemStatus.OVERDUE:
                    overdue += 1
                else:
                    due_soon += 1
                try:
                    outcome = self._notifier.notify(kind, incident, sent_for=now, item=item)
                except Exception:  # one failed notification does not stop the job
                    log.exception("notification %s of %s not sent", kind, incident.id)
                    outcome = "error"
                sent[outcome] += 1
        self._metrics.set("audit_checklist_items_overdue", overdue)
        self._metrics.set("audit_checklist_items_due_soon", due_soon)
        for severity, count in by_severity.items():
            self._metrics.set("audit_incidents_open", count, severity=severity)
        return DeadlineSummary(
            incidents=len(incidents),
            overdue=overdue,
            due_soon=due_soon,
            open_by_severity=dict(sorted(by_severity.items())),
            notifications=dict(sorted(sent.items())),
        )
