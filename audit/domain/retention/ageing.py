"""Per-field ageing of personal data inside stored events (pure).

A class's ``field_ages`` say which personal field ages out after how many
days from the event's time, and how: ``truncate`` (an IP becomes its /24 or
/48 network) or ``drop``. Only version-2 links are aged: their hash covers
commitments, and ``source.ip`` carries a commitment to its truncation, so
the aged document still verifies; a version-1 hash covers the values in
clear and would break. Each aged field is recorded in
``integrity.privacy.aged`` (outside the hash), which makes a rerun skip it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from audit.domain.privacy.commitments import truncate_ip
from audit.domain.privacy.fields import get_value, remove_value, set_value
from audit.domain.retention.policy import FieldAge, RetentionPolicy

AGED_FIELD = "integrity.privacy.aged"


def event_time(document: Mapping[str, Any]) -> datetime | None:
    value = document.get("@timestamp")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def aged_list(document: Mapping[str, Any]) -> list[str]:
    value = get_value(document, AGED_FIELD)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def age_document(
    document: Mapping[str, Any], ages: Mapping[str, FieldAge], now: datetime
) -> dict[str, Any] | None:
    """The aged form of ``document`` at ``now``, or ``None`` when nothing is due."""
    integrity = document.get("integrity")
    when = event_time(document)
    if when is None or not isinstance(integrity, Mapping) or integrity.get("v") != 2:
        return None
    done = aged_list(document)
    out: dict[str, Any] | None = None
    for path, age in sorted(ages.items()):
        if path in done or when + timedelta(days=age.after_days) > now:
            continue
        out = out if out is not None else copy.deepcopy(dict(document))
        value = get_value(out, path)
        if value is not None:
            if age.action == "drop":
                remove_value(out, path)
            elif isinstance(value, str):
                truncated = truncate_ip(value)
                if truncated is not None:
                    set_value(out, path, truncated)
        done = [*done, path]
        set_value(out, AGED_FIELD, done)
    return out


def ageable(policy: RetentionPolicy) -> dict[str, int]:
    """For verification: each dropped field and the fewest days after which
    any class may drop it (a truncation needs no allowance: it matches the
    commitment to the truncated value)."""
    out: dict[str, int] = {}
    for klass in policy.classes.values():
        for path, age in klass.field_ages.items():
            if age.action == "drop":
                out[path] = min(out.get(path, age.after_days), age.after_days)
    return out


def aged_fields(
    document: Mapping[str, Any], minimum_days: Mapping[str, int], now: datetime
) -> set[str]:
    """The fields ``document`` may lack: recorded as aged and old enough for
    that (the record alone, outside the hash, would not do)."""
    when = event_time(document)
    if when is None:
        return set()
    recorded = set(aged_list(document))
    return {
        p
        for p, days in minimum_days.items()
        if p in recorded and when + timedelta(days=days) <= now
    }
