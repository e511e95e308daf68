"""The lawful-request deadlines job: legal hears of a clock before it runs out.

Every minute: evaluate the checklist of every open lawful request, export how
many of its items are due soon and overdue, and notify legal once per item,
deadline and state. The deadlines are the request's clocks (preservation
expiry, 18 U.S.C. § 2703(f)(2) and Regulation (EU) 2023/1543 Art. 11(1); the
return date, Art. 10(2)/(4) of that Regulation; the motion to quash, 18 U.S.C.
§ 2703(h)(2)(A); the customer notice once a non-disclosure order lapses,
§ 2705(b)), computed by :mod:`audit.domain.disclosure.clocks` and the
checklist template. The notifications go to legal's own receiver, never to
on-call's: see :func:`audit.domain.notifications.build_request_body`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from audit.domain.checklists import ItemStatus
from audit.domain.notifications import EventKind
from audit.services.disclosures import DisclosureService
from audit.services.ports.incidents import RequestNotifier
from audit.services.ports.ingest import MetricsRecorder

log = logging.getLogger(__name__)

LEGAL_DEADLINES_JOB = "legal_deadlines"
_ITEM_EVENTS = {
    ItemStatus.DUE_SOON: EventKind.REQUEST_ITEM_DUE_SOON,
    ItemStatus.OVERDUE: EventKind.REQUEST_ITEM_OVERDUE,
}


@dataclass(frozen=True)
class RequestDeadlineSummary:
    requests: int
    overdue: int
    due_soon: int
    notifications: dict[str, int] = field(default_factory=dict)


class RequestDeadlineJob:
    def __init__(
        self, disclosures: DisclosureService, notifier: RequestNotifier, metrics: MetricsRecorder
    ) -> None:
        self._disclosures = disclosures
        self._notifier = notifier
        self._metrics = metrics

    def run(self, now: datetime) -> RequestDeadlineSummary:
        requests = self._disclosures.open_requests()
        counts: Counter[ItemStatus] = Counter()
        sent: Counter[str] = Counter()
        for request in requests:
            for item in self._disclosures.checklist(request, now):
                kind = _ITEM_EVENTS.get(item.status)
                if kind is None:
                    continue
                counts[item.status] += 1
                try:
                    outcome = self._notifier.notify_request(kind, request, sent_for=now, item=item)
                except Exception:  # one failed notification does not stop the round
                    log.exception("notification %s of request %s not sent", kind, request.id)
                    outcome = "error"
                sent[outcome] += 1
        overdue, due_soon = counts[ItemStatus.OVERDUE], counts[ItemStatus.DUE_SOON]
        self._metrics.set("audit_lawful_request_items_overdue", overdue)
        self._metrics.set("audit_lawful_request_items_due_soon", due_soon)
        return RequestDeadlineSummary(len(requests), overdue, due_soon, dict(sorted(sent.items())))
