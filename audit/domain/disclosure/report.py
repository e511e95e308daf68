"""Transparency report: counts of lawful requests received in a year."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from audit.domain.disclosure.model import DisclosureRequest

OPEN = "open"


class TransparencyReport(BaseModel):
    """Counts by process type, by outcome (``open`` for requests not closed), and both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int
    total: int
    by_process_type: dict[str, int]
    by_outcome: dict[str, int]
    by_process_type_and_outcome: dict[str, dict[str, int]]
    customer_notified: int
    under_nondisclosure_order: int
    emergency: int


def transparency_report(requests: Iterable[DisclosureRequest], year: int) -> TransparencyReport:
    """Requests received (``intake.received_at``, UTC) in ``year``; keys sorted."""
    chosen = [r for r in requests if r.intake.received_at.year == year]
    by_type: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter()
    both: dict[str, Counter[str]] = {}
    for request in chosen:
        outcome = request.outcome.value if request.outcome else OPEN
        by_type[request.process_type.value] += 1
        by_outcome[outcome] += 1
        both.setdefault(request.process_type.value, Counter())[outcome] += 1
    return TransparencyReport(
        year=year,
        total=len(chosen),
        by_process_type=dict(sorted(by_type.items())),
        by_outcome=dict(sorted(by_outcome.items())),
        by_process_type_and_outcome={k: dict(sorted(v.items())) for k, v in sorted(both.items())},
        customer_notified=sum(1 for r in chosen if r.customer_notice is not None),
        under_nondisclosure_order=sum(1 for r in chosen if r.ndo is not None),
        emergency=sum(1 for r in chosen if r.emergency),
    )
