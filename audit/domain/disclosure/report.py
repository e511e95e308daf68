"""Transparency report: counts of lawful requests received in a year."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict

from audit.domain.disclosure.model import DisclosureRequest

OPEN = "open"


class TransparencyReport(BaseModel):
    """Counts by process type, by outcome (``open`` for requests not closed), and both;
    and how many were verified, reviewed (by outcome), redirected, produced,
    preserved, and how the customer was told (by notice status), all from the
    requests' own records."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int
    total: int
    by_process_type: dict[str, int]
    by_outcome: dict[str, int]
    by_process_type_and_outcome: dict[str, dict[str, int]]
    customer_notified: int
    under_nondisclosure_order: int
    emergency: int
    verified: int = 0
    by_review_outcome: dict[str, int] = {}
    customer_notice_by_status: dict[str, int] = {}
    redirected_to_customer: int = 0
    produced: int = 0
    preserved: int = 0


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
        customer_notified=sum(
            1 for r in chosen if r.customer_notice is not None and r.customer_notice.sent
        ),
        verified=sum(1 for r in chosen if r.verified),
        by_review_outcome=_count(r.review.outcome.value for r in chosen if r.review),
        customer_notice_by_status=_count(
            r.customer_notice.status.value for r in chosen if r.customer_notice
        ),
        redirected_to_customer=sum(1 for r in chosen if r.redirect is not None),
        produced=sum(1 for r in chosen if r.production is not None),
        preserved=sum(1 for r in chosen if r.hold_ids or r.hold_id),
        under_nondisclosure_order=sum(1 for r in chosen if r.ndo is not None),
        emergency=sum(1 for r in chosen if r.emergency),
    )


def _count(values: Iterator[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))
