"""Named attack scenarios (one module per rule family) for ``audit replay``, the demo and the tests.

Pure: a scenario is a list of event dicts (valid per the contract, EVENTS.md)
and the detections the rule pack must raise on exactly those events, no
more and no less. There is at least one scenario per rule of the pack, a
near miss per rule (just under its threshold: it must raise nothing), an
``attack_chain`` crossing several rules and a ``cross_org_spraying``.

Every scenario instance owns its organizations, users, IP addresses,
credentials and sessions, derived from its name and seed, so several can be
mixed with each other and into the benign traffic of
:class:`~audit.replay.traffic.TrafficGenerator` without one changing the
detections of another:

- ids carry a tag hashed from (name, seed): ``org_<tag>a``, ``usr_<tag>_03``,
  ``tok_<tag>_1``, ``ses_<tag>_1``;
- IPv4 addresses live in a /24 of their own: first octet from a pool that the
  benign generator never uses (it draws 192, 198, 203), second octet the
  scenario's place in the registry, third octet from the seed. Two scenarios
  with the same seed never share an address; one scenario with two seeds
  shares none unless the seeds are equal modulo 2048.

``start`` is when the attack phase begins; what comes before an attack lies
before it (the 10 days of logins that ``auth.new_country`` learns from, the
first login of the slow-travel near miss, a revocation). Nothing lies more
than about 2.5 hours after it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

# Importing a family registers its scenarios: this order fixes each one's
# index, and so its addresses (new families go at the end).
# isort: off
from audit.replay.scenarios import authentication  # noqa: F401
from audit.replay.scenarios import credentials  # noqa: F401
from audit.replay.scenarios import tenancy  # noqa: F401
from audit.replay.scenarios import iam  # noqa: F401
from audit.replay.scenarios import abuse  # noqa: F401
from audit.replay.scenarios import chain  # noqa: F401

# isort: on
from audit.replay.scenarios.base import SCENARIOS, Scenario, ScenarioSpec
from audit.replay.traffic import SyntheticMessage, to_message

__all__ = [
    "SCENARIOS",
    "Scenario",
    "ScenarioSpec",
    "build",
    "build_many",
    "merge",
    "resolve",
    "scenario_events",
    "scenario_names",
]

# ---------------------------------------------------------------------------
# public helpers


def scenario_names() -> list[str]:
    return list(SCENARIOS)


def resolve(names: Iterable[str]) -> list[str]:
    """Scenario names in the order given, ``all`` expanded, duplicates dropped.

    Raises :class:`KeyError` naming the unknown ones."""
    out: list[str] = []
    unknown: list[str] = []
    for name in names:
        expanded = scenario_names() if name == "all" else [name]
        for one in expanded:
            if one not in SCENARIOS:
                unknown.append(one)
            elif one not in out:
                out.append(one)
    if unknown:
        raise KeyError(", ".join(unknown))
    return out


def build(name: str, start: datetime, seed: int) -> Scenario:
    """Build the scenario ``name`` starting at ``start`` from ``seed``."""
    return SCENARIOS[name].build(start, seed)


def build_many(names: Iterable[str], start: datetime, seed: int) -> list[Scenario]:
    return [build(name, start, seed) for name in resolve(names)]


def scenario_events(scenarios: Iterable[Scenario]) -> list[dict[str, Any]]:
    """The events of all ``scenarios`` in event-time order."""
    events = [ev for scenario in scenarios for ev in scenario.events]
    events.sort(key=lambda e: (e["@timestamp"], e["event"]["id"]))
    return events


def _event_time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["@timestamp"]))


def _message_time(message: SyntheticMessage) -> datetime | None:
    if message.event_id is None or message.malformed_kind is not None:
        return None
    try:
        return _event_time(orjson.loads(message.value))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def merge(
    messages: Sequence[SyntheticMessage], scenarios: Iterable[Scenario]
) -> list[SyntheticMessage]:
    """``messages`` with the scenarios' events slotted in by event time.

    A scenario event goes just before the first message whose event time is
    later than its own (redeliveries and malformed messages do not move the
    clock back), so the merged stream stays in event-time order as far as the
    benign stream is; what comes after the last message goes at the end.
    """
    extra = scenario_events(scenarios)
    times = [_event_time(ev) for ev in extra]
    out: list[SyntheticMessage] = []
    placed = 0
    clock: datetime | None = None
    for message in messages:
        stamp = _message_time(message)
        if stamp is not None and (clock is None or stamp > clock):
            clock = stamp
            upto = bisect.bisect_right(times, clock, lo=placed)
            out.extend(to_message(ev) for ev in extra[placed:upto])
            placed = upto
        out.append(message)
    out.extend(to_message(ev) for ev in extra[placed:])
    return out
