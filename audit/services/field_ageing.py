"""The daily ageing of personal fields (``field_ages`` of the retention policy).

One pass per (class, field): a point-in-time walk over the class's event
indices for version-2 events older than the field's age that do not list
the field in ``integrity.privacy.aged`` yet, each page rewritten with bulk
``index`` and ``if_seq_no`` (core APIs only: no update-by-query, no
scripts). A crash loses at most the page in hand; the rerun's query no
longer selects what was done, so it resumes and ends in the same state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from audit.domain.retention.ageing import AGED_FIELD, age_document
from audit.domain.retention.policy import RetentionPolicy
from audit.services.ports.privacy import DocumentIndex, StoredHit


@dataclass
class AgeingReport:
    aged: dict[str, int] = field(default_factory=dict)  # "<class>:<field>" -> documents

    def to_json(self) -> dict[str, Any]:
        return {"aged": dict(sorted(self.aged.items()))}


class FieldAgeing:
    def __init__(self, documents: DocumentIndex, policy: RetentionPolicy, events_prefix: str):
        self._docs = documents
        self._policy = policy
        self._prefix = events_prefix

    def run(self, now: datetime) -> AgeingReport:
        report = AgeingReport()
        for name, klass in sorted(self._policy.classes.items()):
            for path, age in sorted(klass.field_ages.items()):
                cutoff = now - timedelta(days=age.after_days)
                query = {
                    "bool": {
                        "filter": [
                            {"range": {"@timestamp": {"lte": cutoff.isoformat()}}},
                            {"exists": {"field": "integrity.keys.actor"}},
                        ],
                        "must_not": [{"term": {AGED_FIELD: path}}],
                    }
                }
                count = 0
                index = f"{self._prefix}-{name}-*"
                for page in self._docs.walk(index, query):
                    changes: list[tuple[StoredHit, Mapping[str, Any]]] = []
                    for hit in page:
                        aged = age_document(hit.source, {path: age}, now)
                        if aged is not None:
                            changes.append((hit, aged))
                    if changes:
                        count += self._docs.rewrite(changes)
                report.aged[f"{name}:{path}"] = count
        return report
