"""The audit event: validation of an untrusted message and its normalization."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class NormalizedEvent:
    """An accepted event, ready to store and to evaluate.

    ``document`` is what is stored: the producer's fields, nested (ECS
    objects), unknown extras kept, plus what normalization adds
    (``event.category``/``event.type`` when absent, ``elastra.data_category``,
    ``event.ingested``). ``timestamp`` is ``@timestamp`` as an aware UTC
    datetime.
    """

    event_id: str
    organization_id: str
    action: str
    outcome: str
    timestamp: datetime
    data_category: str
    document: dict[str, Any]
