"""What erasing a data subject does to one stored document (pure).

``roles_of`` says in which role the subject appears in an event (the actor,
or the user acted upon); ``erase`` removes the personal fields of those
roles and marks the document (``integrity.privacy.erased.<role>`` = the
request id; ``integrity`` is outside the hash, so the chain is unchanged).
``scrub`` removes the subject's values from documents derived from events
(detections, incidents): a string equal to one of them, or containing an
identifier, becomes ``[erased]``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.domain.integrity.canonical import INTEGRITY_FIELD
from audit.domain.privacy.fields import PERSONAL_FIELDS, Subject, get_value, remove_value

ERASED = "[erased]"
CUSTOMER_CONTENT = "customer_content"
# Values long and specific enough to be replaced inside longer strings
# (an incident title naming a user); shorter ones are replaced only whole.
MIN_SUBSTRING = 6
IDENTIFIERS = frozenset({"user.id", "user.email", "user.name", "source.ip", "user.target.id"})


def roles_of(document: Mapping[str, Any], field: str, value: str) -> list[Subject]:
    """The roles in which the subject named by ``field`` = ``value`` appears."""
    roles: list[Subject] = []
    if get_value(document, field) == value:
        roles.append(PERSONAL_FIELDS[field])
    if field == "user.id" and get_value(document, "user.target.id") == value:
        roles.append("target")
    return sorted(set(roles))


@dataclass(frozen=True)
class Erasure:
    document: dict[str, Any]
    fields: list[str]  # the fields removed
    values: list[str]  # the string values removed (to scrub elsewhere)
    identifiers: list[str]  # those that identify (ids, names, e-mail, IP)


def erase(document: Mapping[str, Any], roles: Iterable[Subject], request_id: str) -> Erasure:
    out = copy.deepcopy(dict(document))
    fields: list[str] = []
    values: list[str] = []
    identifiers: list[str] = []
    wanted = set(roles)
    for path, role in PERSONAL_FIELDS.items():
        if role not in wanted:
            continue
        value = get_value(out, path)
        if value is None:
            continue
        remove_value(out, path)
        fields.append(path)
        if isinstance(value, str) and path in IDENTIFIERS | {"user_agent.original"}:
            values.append(value)
            if path in IDENTIFIERS:
                identifiers.append(value)
    integrity = out.get(INTEGRITY_FIELD)
    if isinstance(integrity, dict):
        privacy = integrity.setdefault("privacy", {})
        erased = privacy.setdefault("erased", {})
        for role in sorted(wanted):
            erased[role] = request_id
    return Erasure(out, fields, values, identifiers)


def mentions(node: Any, identifiers: Iterable[str]) -> bool:
    """Whether ``node`` names the subject (one of their identifiers, whole or,
    when long enough, inside a string): only then is it scrubbed, so that a
    value the subject shares with others (a common user agent) is not taken
    out of records about someone else."""
    return scrub(node, identifiers, identifiers)[1]


def scrub(node: Any, values: Iterable[str], identifiers: Iterable[str]) -> tuple[Any, bool]:
    """``node`` with the subject's values replaced; whether anything changed.
    Object keys are scrubbed too (detections key entities by value)."""
    whole = frozenset(values)
    inner = [v for v in identifiers if len(v) >= MIN_SUBSTRING]
    changed = False

    def text(value: str) -> str:
        nonlocal changed
        if value in whole:
            changed = True
            return ERASED
        for identifier in inner:
            if identifier in value:
                changed = True
                value = value.replace(identifier, ERASED)
        return value

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return text(item)
        if isinstance(item, Mapping):
            return {text(k): walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    result = walk(node)
    return result, changed


@dataclass(frozen=True)
class Kept:
    """An event kept despite the erasure request, and why."""

    event_id: str
    reason: str  # "legal_hold:<id>", "open_incident:<id>", "art17_3_b", "art17_3_e"
    basis: str  # the article the exemption rests on
    review_at: datetime | None


HOLD_BASIS = "GDPR Art. 17(3)(e): legal claims (legal hold)"
INCIDENT_BASIS = "GDPR Art. 17(3)(b)/(e): an open security incident (Art. 33/34 duties, claims)"
